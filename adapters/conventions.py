"""What an implementation *declares* it does with its moving statistics, as data.

A declaration is a claim, not a fact: the float64 reference executes it, the suites compare the
framework's behaviour with it, and the conventions matrix is rendered from what was observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MomentumWeight = Literal["old", "new", "none"]
Variance = Literal["biased", "unbiased"]
#: Training normalizes with the batch's mean and biased/unbiased variance, or (Equinox "ema")
#: with the moving statistics just updated by the batch.
TrainNormalization = Literal["biased", "unbiased", "moving statistics"]
FirstStep = Literal["blend", "debiased", "copy"]
#: In a float64 layer, which numbers of the update are float32 (attributes holding momentum and
#: epsilon, a tensor holding 1 - momentum, or the whole update), or "no float64" where the
#: implementation takes no float64.
Float64Momentum = Literal["float64", "float32 attributes", "batch weight in float32", "update in float32",
                          "no float64"]
INFERENCE_FORMULA = "moving statistics, epsilon inside the square root"
HALF_DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class HalfStep:
    """What one training step in a half-precision dtype does: the dtypes the framework gives the
    output and the stored moving statistics, or its refusal (``raises``: the framework's own error;
    ``not supported``: the adapter declines the dtype)."""

    output: str = ""
    moving: str = ""
    refusal: Literal["", "raises", "not supported"] = ""

    def __str__(self) -> str:
        return self.refusal or f"output {self.output}, moving {self.moving}"


@dataclass(frozen=True)
class HalfPrecision:
    """The half-precision row: a :class:`HalfStep` per half dtype."""

    float16: HalfStep
    bfloat16: HalfStep

    @classmethod
    def moving_in(cls, moving: str) -> HalfPrecision:
        """Outputs in the input's dtype, moving statistics in ``moving`` (``"input"``: the input's dtype too)."""
        return cls(*(HalfStep(dtype, dtype if moving == "input" else moving) for dtype in HALF_DTYPES))

    def step(self, dtype: str) -> HalfStep:
        return getattr(self, dtype)

    def raises(self, dtype: str) -> bool:
        """Whether the framework itself refuses a training step in ``dtype`` (Paddle's CPU kernels in float16)."""
        return dtype in HALF_DTYPES and self.step(dtype).refusal == "raises"

    def __str__(self) -> str:
        return "; ".join(f"{dtype}: {self.step(dtype)}" for dtype in HALF_DTYPES)


@dataclass(frozen=True)
class BeyondRange:
    """The ``half_precision_range`` row: a float16 batch whose variance (9e4) float16 cannot hold, and a
    value (7e4) float16 makes inf. ``outputs``: what the first channel normalizes to (``±1``, ``0``,
    ``NaN``, or the values); ``stores``: its moving variance (``it``: a finite value, ``inf``, ``NaN``, or
    ``nothing``: the moving statistics stayed as they were); ``mean``/``variance``: what the second
    channel stores. ``refusal``: ``raises`` (the framework's error) or ``no float16`` (the adapter's)."""

    outputs: str = ""
    stores: str = ""
    mean: str = "inf"
    variance: str = "NaN"
    refusal: Literal["", "raises", "no float16"] = ""

    def __str__(self) -> str:
        if self.refusal:
            return self.refusal
        return f"variance 9e4: outputs {self.outputs}, stores {self.stores}; value 7e4: mean {self.mean}, variance {self.variance}"

    @property
    def statistics_in_float16(self) -> bool:
        """A variance beyond float16's range normalized the batch to 0: the statistics are computed in float16."""
        return self.outputs == "0"


@dataclass(frozen=True)
class Conventions:
    """One implementation's BatchNorm conventions.

    momentum_weight: which value the native momentum argument weighs: ``old`` (TensorFlow,
        Keras, Flax: moving = m*moving + (1-m)*batch), ``new`` (PyTorch: moving =
        (1-m)*moving + m*batch), ``none`` (the implementation takes the decay itself).
    default_momentum, default_epsilon: the constructor's defaults, as native values
        (``None`` where the argument is required).
    train_normalize_variance: what normalizes a batch in training: its mean and its ``biased``
        or ``unbiased`` variance, or the ``moving statistics`` after this batch's update.
    moving_variance_update: the variance that enters the moving average (``unbiased`` is the
        biased one times n/(n-1), n the elements per channel).
    initial_mean, initial_variance: the moving values before the first step.
    first_step: ``blend`` (decay*initial + (1-decay)*batch), ``debiased`` (a hidden EMA that
        starts at the initial value is divided by 1 - decay**t: from an initial 0, step one gives
        the batch value), ``copy`` (step one stores the batch value, later steps blend).
    one_pass_variance: the variance is computed as E[x^2] - E[x]^2, which loses every digit
        for data whose mean is large against its spread.
    cumulative_average: the native way to ask for a plain (non-exponential) average of all
        batches, or None where there is none.
    no_moving_statistics: the native way to keep no moving statistics and normalize inference
        batches with their own (PyTorch ``track_running_stats=False``), or None.
    batch_size_1: what a training step on one value per channel does: ``raises``, ``runs: variance 0``
        (normalizes it, to beta, and feeds a variance of 0 to the moving average), ``runs: variance NaN``
        (feeds NaN: an unbiased rule's 0 · 1/(n - 1) at n = 1), or ``passes through`` (the output is the
        input and the moving statistics stay as they were: Paddle's CPU kernel skips the step).
    half_precision: the dtypes of the output and of the moving statistics for float16 and
        bfloat16 input, or the refusal (:class:`HalfPrecision`).
    inference_formula: which statistics inference normalizes with, and where epsilon sits.
    non_finite: what one NaN in one channel of a training batch does to the moving statistics:
        ``NaN in its channel only``, ``NaN in every channel``, ``raises``.
    float64_momentum: the precision of momentum and epsilon in a float64 layer: ``float64``, or
        float32 somewhere on the way (``float32 attributes``: ONNX's and Paddle's momentum and
        epsilon are float32 attributes; ``batch weight in float32``: tf_keras converts
        ``1 - momentum`` to a float32 tensor; ``update in float32``: the whole moving-average update
        is computed in float32 and stored back in float64, Keras 3 on PyTorch), each of which moves
        float64 statistics by up to ~6e-8 relative per step; ``no float64`` where the
        implementation takes no float64 layer.
    half_precision_range: what a float16 batch beyond float16's range does (:class:`BeyondRange`).
    state_names: the native names of moving mean, moving variance, gamma, beta.
    weight_order: those names in the order the framework's own list of the layer's weights holds them (what
        a positional copy reads and writes: Keras's ``get_weights()``, PyTorch's ``state_dict()``, a flattened
        pytree), or None where the adapter does not say.
    """

    momentum_weight: MomentumWeight
    default_momentum: float | None
    default_epsilon: float
    train_normalize_variance: TrainNormalization
    moving_variance_update: Variance
    state_names: tuple[str, str, str, str]
    initial_mean: float = 0.0
    initial_variance: float = 1.0
    first_step: FirstStep = "blend"
    one_pass_variance: bool = False
    cumulative_average: str | None = None
    no_moving_statistics: str | None = None
    batch_size_1: Literal["raises", "passes through", "runs: variance 0", "runs: variance NaN"] = "runs: variance 0"
    half_precision: HalfPrecision = HalfPrecision.moving_in("float32")
    inference_formula: str = INFERENCE_FORMULA
    non_finite: str = "NaN in its channel only"
    half_precision_range: BeyondRange = BeyondRange(outputs="0", stores="inf")
    float64_momentum: Float64Momentum = "float64"
    weight_order: tuple[str, ...] | None = None

    def weights(self, decay: float, dtype: str) -> tuple[float, float]:
        """(weight of the old moving value, weight of the batch's value) with which this implementation
        applies ``decay`` in a layer of ``dtype``: ``decay`` and ``1 - decay``, but for the one that
        ``float64_momentum`` says is rounded to float32 in a float64 layer (``update in float32`` is
        carried out by the reference, which computes the update in float32)."""
        if dtype == "float64" and self.float64_momentum == "float32 attributes":
            old = float(np.float32(decay))
            return old, 1.0 - old
        if dtype == "float64" and self.float64_momentum == "batch weight in float32":
            new = float(np.float32(1.0 - decay))
            return 1.0 - new, new
        return decay, 1.0 - decay

    def epsilon(self, epsilon: float, dtype: str) -> float:
        """The epsilon this implementation adds in a layer of ``dtype``: a float32 attribute's in a
        float64 layer where ``float64_momentum`` says ``float32 attributes``."""
        if dtype == "float64" and self.float64_momentum == "float32 attributes":
            return float(np.float32(epsilon))
        return epsilon

    def float32_in_float64(self) -> bool:
        """Whether a float64 layer of this implementation computes with some float32 numbers."""
        return self.float64_momentum not in ("float64", "no float64")

    def native_momentum(self, decay: float) -> float:
        """The native momentum argument that gives ``decay`` (the weight of the old value)."""
        return 1.0 - decay if self.momentum_weight == "new" else decay

    def decay_of(self, native_momentum: float) -> float:
        """The decay that a native momentum argument means: the inverse of native_momentum."""
        return 1.0 - native_momentum if self.momentum_weight == "new" else native_momentum
