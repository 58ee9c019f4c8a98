"""The framework-neutral description of one BatchNorm layer, validated when it is made.

Every framework names the moving-average weight differently ("momentum" weighs the old value in
TensorFlow/Keras/Flax and the new value in PyTorch), so the description never says "momentum":
it says ``decay``, the weight kept from the old moving value, and each adapter translates it.

Everything here is plain Python and NumPy: a bad description or a bad batch is reported before
any framework is imported or called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DTYPES = ("float16", "bfloat16", "float32", "float64")
AVERAGING = ("exponential", "cumulative", "none")


class SpecError(ValueError):
    """A BatchNorm description or a batch that cannot be run, naming the field and its value."""

    def __init__(self, field: str, value: object, requirement: str):
        self.field = field
        self.value = value
        super().__init__(f"{field} {requirement}; got {value!r}")


@dataclass(frozen=True)
class BatchNormSpec:
    """One BatchNorm layer, described without any framework's vocabulary.

    num_features: channels normalized independently (PyTorch ``num_features``, Keras the size of
        ``axis``).
    decay: weight of the old moving value, ``moving = decay * moving + (1 - decay) * batch``.
        Keras/Flax ``momentum=m`` is decay m; PyTorch ``momentum=m`` is decay 1 - m.
    epsilon: added to the variance inside the square root.
    center, scale: whether the layer has beta and gamma.
    dtype: the dtype of the batches and of the layer's computation.
    ndim: the rank of the batches (2 for (N, C), 4 for images).
    axis: the channel axis of the batches as this project hands them to an adapter; each
        adapter moves it where its framework wants it (PyTorch: 1, Keras/Flax: -1).
    averaging: ``exponential`` (the decay above), ``cumulative`` (the plain mean of all
        batches seen, PyTorch's ``momentum=None``) or ``none`` (no moving statistics: inference
        normalizes each batch with its own, PyTorch's ``track_running_stats=False``); ``decay``
        is ignored unless ``exponential``.
    """

    num_features: int
    decay: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    dtype: str = "float32"
    ndim: int = 2
    axis: int = -1
    averaging: str = "exponential"

    def __post_init__(self) -> None:
        if isinstance(self.num_features, bool) or not isinstance(self.num_features, (int, np.integer)):
            raise SpecError("num_features", self.num_features, "must be an integer")
        if self.num_features < 1:
            raise SpecError("num_features", self.num_features, "must be at least 1")
        _check_real("decay", self.decay)
        if not 0.0 <= self.decay <= 1.0:
            raise SpecError("decay", self.decay, "must be in [0, 1] (the weight kept from the old moving value)")
        _check_real("epsilon", self.epsilon)
        if self.epsilon < 0:
            raise SpecError("epsilon", self.epsilon, "must be finite and not negative")
        for name in ("center", "scale"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SpecError(name, getattr(self, name), "must be True or False")
        if self.dtype not in DTYPES:
            raise SpecError("dtype", self.dtype, f"must be one of {', '.join(DTYPES)}")
        if isinstance(self.ndim, bool) or not isinstance(self.ndim, (int, np.integer)) or not 2 <= self.ndim <= 5:
            raise SpecError("ndim", self.ndim, "must be an integer from 2 to 5 (batch, channels and up to 3 spatial axes)")
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)) or not -self.ndim <= self.axis < self.ndim:
            raise SpecError("axis", self.axis, f"must be an axis of a rank-{self.ndim} batch other than 0")
        if self.axis % self.ndim == 0:
            raise SpecError("axis", self.axis, "must not be 0: axis 0 is the batch axis")
        if self.averaging not in AVERAGING:
            raise SpecError("averaging", self.averaging, f"must be one of {', '.join(AVERAGING)}")

    @property
    def channel_axis(self) -> int:
        """The channel axis as a non-negative index."""
        return self.axis % self.ndim

    @property
    def reduce_axes(self) -> tuple[int, ...]:
        """The axes a batch statistic is taken over: all but the channel axis."""
        return tuple(a for a in range(self.ndim) if a != self.channel_axis)

    def check_batch(self, batch: object) -> np.ndarray:
        """Return ``batch`` as a NumPy array after checking that this layer can take it."""
        if not isinstance(batch, np.ndarray):
            raise SpecError("batch", type(batch).__name__, "must be a numpy.ndarray")
        if batch.dtype.kind != "f" and str(batch.dtype) != "bfloat16":
            raise SpecError("batch.dtype", str(batch.dtype), "must be a floating-point dtype")
        if batch.ndim != self.ndim:
            raise SpecError("batch.ndim", batch.ndim, f"must equal the description's ndim={self.ndim}")
        if batch.shape[self.channel_axis] != self.num_features:
            raise SpecError(
                f"batch.shape[{self.channel_axis}]",
                batch.shape[self.channel_axis],
                f"must equal num_features={self.num_features} (axis={self.axis} is the channel axis)",
            )
        if batch.shape[0] < 1:
            raise SpecError("batch.shape[0]", batch.shape[0], "must be at least 1")
        return batch


def _check_real(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpecError(field, value, "must be a real number")
    if not math.isfinite(value):
        raise SpecError(field, value, "must be finite")
