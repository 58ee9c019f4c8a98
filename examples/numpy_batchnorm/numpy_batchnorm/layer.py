"""A plain NumPy BatchNorm, channels last, with conventions of its own choosing.

Its ``momentum`` weighs the *new* value, as PyTorch's does (default 0.1), but the moving variance
receives the *biased* batch variance, as Keras's does; epsilon defaults to 1e-5. It computes in
float32 or float64, the dtype it is built with.
"""

from __future__ import annotations

import numpy as np


class BatchNorm:
    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, affine: bool = True,
                 track_running_stats: bool = True, dtype: str = "float32"):
        if dtype not in ("float32", "float64"):
            raise TypeError(f"BatchNorm computes in float32 or float64, not {dtype}")
        self.momentum, self.eps, self.affine, self.track_running_stats = momentum, eps, affine, track_running_stats
        self.dtype = np.dtype(dtype)
        self.weight = np.ones(num_features, self.dtype) if affine else None
        self.bias = np.zeros(num_features, self.dtype) if affine else None
        self.running_mean = np.zeros(num_features, self.dtype) if track_running_stats else None
        self.running_var = np.ones(num_features, self.dtype) if track_running_stats else None
        self.training = True

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, self.dtype)
        axes = tuple(range(x.ndim - 1))
        if self.training or not self.track_running_stats:
            mean = x.mean(axis=axes)
            var = ((x - mean) ** 2).mean(axis=axes)  # two passes, biased
            if self.training and self.track_running_stats:
                m = self.dtype.type(self.momentum)
                self.running_mean = (1 - m) * self.running_mean + m * mean
                self.running_var = (1 - m) * self.running_var + m * var
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean) / np.sqrt(var + self.dtype.type(self.eps))
        return y * self.weight + self.bias if self.affine else y
