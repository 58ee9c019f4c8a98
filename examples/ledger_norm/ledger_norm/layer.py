"""LedgerNorm: a plain NumPy BatchNorm, channels first, that names everything its own way.

``smoothing`` is the weight of the *old* ledger value (as Keras's momentum, default 0.95), ``jitter``
is added to the spread before the square root (default 1e-4), the ledger keeps the *unbiased* spread
(n/(n-1), as PyTorch) but a batch of one feeds a spread of 0 rather than NaN, ``tally=True`` keeps a
plain (cumulative) average of every batch instead of an exponential one, and it computes in float32
or float64 whatever its input (float16 input is computed in float32; the output comes back in the
input's dtype). ``learnable=False`` fixes the gain at 1 and the shift at 0.
"""

from __future__ import annotations

import numpy as np


class LedgerNorm:
    def __init__(self, channels: int, smoothing: float = 0.95, jitter: float = 1e-4, tally: bool = False,
                 precision: str = "float32", learnable: bool = True):
        self.smoothing, self.jitter, self.tally, self.learnable = smoothing, jitter, tally, learnable
        self.precision = np.dtype(precision)
        self.gain = np.ones(channels, self.precision)
        self.shift = np.zeros(channels, self.precision)
        self.ledger_mean = np.zeros(channels, self.precision)
        self.ledger_spread = np.ones(channels, self.precision)
        self.entries = 0

    def __call__(self, x: np.ndarray, learning: bool) -> np.ndarray:
        """``x``: (batch, channels, ...)."""
        given = np.asarray(x).dtype
        x = np.asarray(x, self.precision)
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if learning:
            mean = x.mean(axis=axes)
            spread = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
            n = x.size // x.shape[1]
            unbiased = spread * (n / max(n - 1, 1))
            self.entries += 1
            keep = self.precision.type(1 - 1 / self.entries if self.tally else self.smoothing)
            self.ledger_mean = keep * self.ledger_mean + (1 - keep) * mean
            self.ledger_spread = keep * self.ledger_spread + (1 - keep) * unbiased
        else:
            mean, spread = self.ledger_mean, self.ledger_spread
        y = (x - mean.reshape(shape)) / np.sqrt(spread.reshape(shape) + self.precision.type(self.jitter))
        y = y * self.gain.reshape(shape) + self.shift.reshape(shape)
        return y.astype(given) if given.kind == "f" else y
