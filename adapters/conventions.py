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
    batch_size_1: what a training step on one value per channel does: ``raises``, ``runs``
        (normalizes it, to beta, and feeds its zero variance to the moving average), or
        ``passes through`` (the output is the input and the moving statistics stay as they were:
        Paddle's CPU kernel skips the step).
    half_precision: the dtypes of the output and of the moving statistics for float16 and
        bfloat16 input, written as the matrix writes them.
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
    half_precision_range: what a float16 batch beyond float16's range does (probe
        ``half_precision_range``): channel [-300, 300], whose variance 9e4 float16 cannot hold, gives
        outputs ``±1`` (statistics computed in float32) or ``0`` (the variance computed in float16
        is inf) and stores ``it`` (in float32) or ``inf``; channel [1, 7e4], inf once in float16, stores
        its mean and variance as written; ``raises`` or ``no float16`` where the framework or the
        adapter refuses float16.
    state_names: the native names of moving mean, moving variance, gamma, beta.
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
    batch_size_1: Literal["raises", "runs", "passes through"] = "runs"
    half_precision: str = "float16: output float16, moving float32; bfloat16: output bfloat16, moving float32"
    inference_formula: str = INFERENCE_FORMULA
    non_finite: str = "NaN in its channel only"
    half_precision_range: str = "variance 9e4: outputs 0, stores inf; value 7e4: mean inf, variance NaN"
    float64_momentum: Float64Momentum = "float64"

    def cells(self) -> dict[str, str]:
        """The declaration in the conventions matrix's vocabulary: one string per row id."""
        return {
            "momentum_weight": self.momentum_weight,
            "default_momentum": "required" if self.default_momentum is None else f"{self.default_momentum:g}",
            "default_epsilon": f"{self.default_epsilon:g}",
            "train_normalize_variance": self.train_normalize_variance,
            "moving_variance_update": self.moving_variance_update,
            "initial_mean": f"{self.initial_mean:g}",
            "initial_variance": f"{self.initial_variance:g}",
            "first_step": self.first_step,
            "batch_size_1": self.batch_size_1,
            "cumulative_average": "yes" if self.cumulative_average else "no",
            "inference_formula": self.inference_formula,
            "half_precision": self.half_precision,
            "variance_robustness": "lossy" if self.one_pass_variance else "accurate",
            "state_names": ", ".join(self.state_names),
            "half_precision_range": self.half_precision_range,
            "non_finite": self.non_finite,
            "float64_momentum": self.float64_momentum,
        }

    def half_precision_raises(self, dtype: str) -> bool:
        """Whether the framework itself refuses a training step in ``dtype`` (``"<dtype>: raises"``
        in ``half_precision``), as Paddle's CPU kernels refuse float16."""
        return f"{dtype}: raises" in self.half_precision.split("; ")

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
