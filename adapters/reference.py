"""The oracle: BatchNorm in float64 NumPy, executing any set of conventions as plainly as the math.

Nothing here is tuned to agree with a framework. Each line is the formula a convention names, so
that when a framework disagrees with the reference run under that framework's declared
conventions, either the declaration or the framework is wrong, and the suites say which value
each one gave.
"""

from __future__ import annotations

import numpy as np

from .conventions import Conventions
from .spec import BatchNormSpec


def batch_moments(spec: BatchNormSpec, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel mean, biased variance (divide by n) and n, in float64, two-pass."""
    x = np.asarray(batch, dtype=np.float64)
    mean = x.mean(axis=spec.reduce_axes)
    centered = x - mean.reshape(channel_shape(spec))
    variance = (centered**2).mean(axis=spec.reduce_axes)
    return mean, variance, x.size // spec.num_features


def bessel(n: int) -> float:
    """The factor n/(n-1) that turns a biased variance of n values into the unbiased one."""
    return n / (n - 1) if n > 1 else float("inf")


def channel_shape(spec: BatchNormSpec) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector against a batch."""
    shape = [1] * spec.ndim
    shape[spec.channel_axis] = spec.num_features
    return tuple(shape)


class ReferenceBatchNorm:
    """A BatchNorm layer in float64 that follows ``conventions`` with the numbers of ``spec``."""

    def __init__(self, spec: BatchNormSpec, conventions: Conventions):
        self.spec = spec
        self.conventions = conventions
        c = spec.num_features
        self.moving_mean = np.full(c, conventions.initial_mean, dtype=np.float64)
        self.moving_variance = np.full(c, conventions.initial_variance, dtype=np.float64)
        self.gamma = np.ones(c, dtype=np.float64)
        self.beta = np.zeros(c, dtype=np.float64)
        self.steps = 0
        # Debiased averages keep a hidden EMA that starts at the initial value and divide it on read.
        self._hidden_mean = self.moving_mean.copy()
        self._hidden_variance = self.moving_variance.copy()

    def train_step(self, batch: np.ndarray) -> np.ndarray:
        """Normalize with the batch statistics, then fold them into the moving statistics."""
        spec = self.spec
        batch = spec.check_batch(batch)
        mean, biased, n = batch_moments(spec, batch)
        with np.errstate(divide="ignore", invalid="ignore"):
            # at n = 1, an unbiased rule's 0 * 1/0: NaN, or 0 where the implementation feeds 0 (batch_size_1)
            unbiased = biased * bessel(n) if n > 1 else biased * (np.nan if self.conventions.batch_size_1 == "runs: variance NaN" else 1.0)
        update_with = biased if self.conventions.moving_variance_update == "biased" else unbiased
        self.steps += 1
        self.moving_mean, self._hidden_mean = self._average(self.moving_mean, self._hidden_mean, mean)
        self.moving_variance, self._hidden_variance = self._average(
            self.moving_variance, self._hidden_variance, update_with
        )
        normalize_with = self.conventions.train_normalize_variance
        if normalize_with == "moving statistics":
            return self._normalize(batch, self.moving_mean, self.moving_variance)
        return self._normalize(batch, mean, biased if normalize_with == "biased" else unbiased)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Normalize with the moving statistics (the batch's own where none are kept); epsilon inside the root."""
        batch = self.spec.check_batch(batch)
        if self.spec.averaging == "none":
            mean, biased, _ = batch_moments(self.spec, batch)
            return self._normalize(batch, mean, biased)
        return self._normalize(batch, self.moving_mean, self.moving_variance)

    def _normalize(self, batch: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
        shape = channel_shape(self.spec)
        x = np.asarray(batch, dtype=np.float64)
        scale = self.gamma / np.sqrt(variance + self.conventions.epsilon(self.spec.epsilon, self.spec.dtype))
        return (x - mean.reshape(shape)) * scale.reshape(shape) + self.beta.reshape(shape)

    def _average(self, moving: np.ndarray, hidden: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of the moving average; returns the new moving value and the debiasing state."""
        t = self.steps
        old, new = self.conventions.weights(self.spec.decay, self.spec.dtype)

        def blend(previous: np.ndarray, value: np.ndarray) -> np.ndarray:
            if self.spec.dtype == "float64" and self.conventions.float64_momentum == "update in float32":
                f32 = np.float32
                return (f32(old) * previous.astype(f32) + f32(new) * value.astype(f32)).astype(np.float64)
            return old * previous + new * value

        if self.spec.averaging == "none":
            return moving, hidden
        if self.spec.averaging == "cumulative":
            return moving + (value - moving) / t, hidden
        if self.conventions.first_step == "copy" and t == 1:
            return value.copy(), hidden
        if self.conventions.first_step == "debiased":
            hidden = blend(hidden, value)
            with np.errstate(divide="ignore", invalid="ignore"):  # decay 1 divides by 0, as Haiku and Equinox do
                return hidden / (1 - old**t), hidden
        return blend(moving, value), hidden


def representable(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to the nearest value of ``dtype``, as float64, so the reference sees the same input."""
    if dtype == "bfloat16":  # round-to-nearest-even on the top 16 bits of float32, no ml_dtypes needed
        bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.asarray(x).astype(dtype).astype(np.float64)
