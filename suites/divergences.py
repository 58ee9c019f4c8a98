"""Known divergences: cases where an implementation does not do what the reference computes.

Each entry names the test and parameters it covers, the convention responsible and what was
measured. It becomes a strict xfail, so a divergence that disappears (an upgrade fixed it)
turns the run red instead of passing silently, and an entry that matches no collected test is
reported as stale. Tolerances are never loosened to absorb one of these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.divergence import Divergence, where

TORCH_BFLOAT16 = (
    "PyTorch's CPU BatchNorm with bfloat16 parameters rounds the batch mean to bfloat16 before "
    "normalizing (at batch size 2, 5.8125 and 6.15625 give a mean of 6.0, not 5.984375), so "
    "training outputs are off by ~9%; Keras 3 and the own JAX implementation compute in float32"
)
FAST_VARIANCE = (
    "Flax's default use_fast_variance computes E[x^2] - E[x]^2 in float32: in channel 10 (mean 13) "
    "a batch of 2 with variance 0.037 keeps only 3 digits (0.03729 for 0.03732); a two-pass variance keeps 7"
)

TF1_FUSED = (
    "on a 4-D batch tf.compat.v1.layers.batch_normalization (fused=None) takes the fused kernel, "
    "which stores the unbiased variance (n/(n-1) = 18/17 at batch 2 of 3x3 images); on 2-D and 3-D "
    "batches, as in the founding question, it stores the biased one"
)

SONNET_FUSED = (
    "on a 4-D channels-last batch snt.BatchNorm trains through FusedBatchNormV2, whose variance output is "
    "the unbiased one (n/(n-1) = 18/17 at batch 2 of 3x3 images: 9.9602 stored where the biased convention "
    "gives 9.4068); on every other batch it stores the biased variance"
)

KERAS_TRAINABLE_SETTER = (
    "Keras 3's trainable setter documents that it sets \"the layer and its sublayers\", but on the TensorFlow backend "
    "model.trainable = True on a model that is already trainable is short-circuited (KerasAutoTrackable.__setattr__ "
    "returns when the value is the one held) and never reaches the setter: the layer's trainable = False stays, the "
    "second fit normalizes with the moving statistics and trains nothing; on JAX and PyTorch it unfreezes the layer"
)
KERAS_GUIDE_TRAINING_FALSE = (
    "Keras's transfer-learning guide (keras.io/guides/transfer_learning) calls the base model with training=False so that "
    "its BatchNorm \"will run in inference mode, and will not update its mean & variance statistics\" once the base is "
    "unfrozen; Keras 3.15's functional models replace a call's recorded training argument with the outer call's "
    "(keras/src/models/functional.py operation_fn), so after base_model.trainable = True, fit normalizes with the "
    "batch's statistics and updates them (moving mean 0 -> 1.2051); tf_keras keeps the guide's behavior"
)
ONNX_RUNNING_STATISTICS_TYPE = (
    "ONNX's BatchNormalization-15 gives running_mean and running_var the type T2 of input_mean and input_var (float32 here); "
    "onnx.reference's evaluator returns them in X's float16, computed in float16 (the variance near 30000 of the "
    "computed_in batch overflows to inf); onnxruntime returns float32"
)
#: The case of test_after_many_steps where a one-pass float32 variance shows: decay 0, batch 2, 16 features.
MANY_STEPS = where(decay=0.0, batch_size=2, features=16)

KNOWN_DIVERGENCES: tuple[Divergence, ...] = (
    *(
        Divergence("test_channel_axis_of_4d_input", "tensorflow-tf1", "moving_variance_update", TF1_FUSED, where(axis=axis, decay=decay))
        for axis in (1, -1)
        for decay in (0.0, 0.9)
    ),
    *(
        Divergence("test_channel_axis_of_4d_input", "tensorflow-sonnet", "moving_variance_update", SONNET_FUSED, where(axis=-1, decay=decay))
        for decay in (0.0, 0.9)
    ),
    Divergence("test_half_precision_step", "torch-batchnorm1d", "half_precision", TORCH_BFLOAT16, where(dtype="bfloat16", batch_size=2)),
    Divergence("test_half_precision_step", "torch-batchnorm2d", "half_precision", TORCH_BFLOAT16, where(dtype="bfloat16", batch_size=2)),
    Divergence(
        "test_half_precision_step",
        "mlx-batchnorm",
        "half_precision",
        "MLX computes the batch statistics of a bfloat16 layer in bfloat16: the rounded batch mean shifts "
        "the training output by ~9% (0.890625 where the float64 convention gives 0.98349), as PyTorch's does",
        where(dtype="bfloat16", batch_size=2),
    ),
    Divergence(
        "test_half_precision_step",
        "jax-haiku",
        "half_precision",
        "Haiku computes the batch statistics in the input dtype: the bfloat16 batch mean is rounded "
        "(6.0 for 5.984375) exactly as PyTorch's is, and training outputs are off by ~9%",
        where(dtype="bfloat16", batch_size=2),
    ),
    Divergence(
        "test_half_precision_step",
        "jax-haiku",
        "variance_robustness",
        "Haiku's one-pass variance E[x^2] - E[x]^2 runs in float16: for two values near 6 the "
        "difference of two rounded squares is 16x too small, and the output reaches -5.80 where "
        "the two-pass value is -0.985",
        where(dtype="float16", batch_size=2),
    ),
    Divergence(
        "test_half_precision_step",
        "jax-equinox_batch",
        "half_precision",
        "Equinox keeps its hidden averages in bfloat16 and divides them by 1 - momentum**t on "
        "every read: the rounding of the hidden variance is magnified, 0.398 where the float64 "
        "convention gives 0.330 after two steps",
        where(dtype="bfloat16", batch_size=2),
    ),
    *(
        Divergence("test_bfloat16_statistics_keep_a_mean_bfloat16_cannot_hold", impl, "half_precision",
                   f"{who} computes the batch statistics of a bfloat16 layer in bfloat16: the mean of 2992 and 3008 "
                   f"rounds to a neighbour and the stored moving variance is {stored} where float32 statistics give {truth}")
        for impl, who, stored, truth in (
            ("tensorflow-sonnet", "Sonnet (tf.nn.moments on the bfloat16 batch)", "128", "64"),
            ("torch-batchnorm1d", "PyTorch's CPU kernel", "256 (unbiased)", "128"),
            ("torch-batchnorm2d", "PyTorch's CPU kernel", "256 (unbiased)", "128"),
            ("jax-haiku", "Haiku, in one pass,", "-65536", "64"),
            ("jax-equinox_ema", "Equinox", "128", "64"),
            ("jax-equinox_batch", "Equinox", "128", "64"),
            ("mlx-batchnorm", "MLX", "256 (unbiased)", "128"),
        )
    ),
    Divergence(
        "test_a_large_mean_against_the_spread_keeps_the_outputs_finite", "jax-haiku", "variance_robustness",
        "Haiku's one-pass variance of 1999.868 and 1999.684 comes out -0.25 in float32 and is not clamped: "
        "rsqrt(-0.25 + 1e-5) makes the channel's outputs NaN (Flax clamps at 0)",
        where(example="vectors"),
    ),
    Divergence(
        "test_a_large_mean_against_the_spread_keeps_the_outputs_finite", "jax-haiku", "variance_robustness",
        "Haiku's one-pass variance goes negative in float32 for two of four channels (means 2000 and 3000, "
        "spreads below 1): their outputs are NaN",
        where(example="sequences"),
    ),
    Divergence(
        "test_a_large_mean_against_the_spread_keeps_the_outputs_finite", "torch-keras3", "variance_robustness",
        "Keras 3's PyTorch backend (moments) computes E[x^2] - E[x]^2 in float32 without clamping it: for the "
        "channel of mean 2000 it goes below -epsilon and the channel's outputs are NaN; on TensorFlow and JAX the "
        "same layer stays finite",
        where(example="sequences"),
    ),
    Divergence("test_after_many_steps", "jax-flax_linen", "variance_robustness", FAST_VARIANCE, MANY_STEPS),
    Divergence("test_after_many_steps", "jax-flax_nnx", "variance_robustness", FAST_VARIANCE, MANY_STEPS),
    Divergence(
        "test_after_many_steps",
        "torch-keras3",
        "variance_robustness",
        FAST_VARIANCE.replace("Flax's default use_fast_variance computes", "Keras 3's PyTorch backend (moments) computes"),
        MANY_STEPS,
    ),
    Divergence("test_frozen_layer_does_what_the_mechanism_declares", "tensorflow-keras3-trainable_false", "parent_switch",
               KERAS_TRAINABLE_SETTER, where(row="parent_switch")),
    *(Divergence("test_frozen_layer_does_what_the_mechanism_declares", f"{backend}-keras3-base_training_false", "parent_switch",
                 KERAS_GUIDE_TRAINING_FALSE, where(row="parent_switch")) for backend in ("tensorflow", "jax", "torch")),
    *(Divergence("test_policy_does_what_it_declares", "onnx-reference-float16_input", row, ONNX_RUNNING_STATISTICS_TYPE,
                 where(row=row)) for row in ("moving_dtype", "half_input")),
    Divergence(
        "test_after_many_steps",
        "jax-haiku",
        "variance_robustness",
        FAST_VARIANCE.replace("Flax's default use_fast_variance computes", "Haiku computes"),
        MANY_STEPS,
    ),
)


@dataclass(frozen=True)
class NotDrawn:
    """A region of the property suite's inputs (``test_properties.py``) that it does not draw for one
    implementation, because a strict xfail or a matrix row already measures what the implementation
    does there: drawn, it would fail every run on the same known divergence and hide any other."""

    impl: str
    region: str  #: what is not drawn, in words
    measured_by: str  #: the strict xfail or the matrix row that measures it
    applies: Callable  #: (spec, batch kind) -> whether a drawn case falls in the region

    def excludes(self, impl_id: str, spec, kind: str) -> bool:
        return impl_id == self.impl and bool(self.applies(spec, kind))


def _dtype(name):
    return lambda spec, kind: spec.dtype == name


#: What the property suite leaves out of float16 for an implementation whose declared
#: half_precision_range says a float16 variance beyond range normalizes to 0: the variance is computed
#: in float16, whose rounding of the mean it subtracts is as large as the variance of ill-conditioned
#: data. The row measures it; derived from the declaration, so it holds for your own adapter too.
HALF_STATISTICS = "statistics computed in float16: the half_precision_range row (outputs 0)"

NOT_DRAWN: tuple[NotDrawn, ...] = (
    *(NotDrawn(impl, "bfloat16", f"test_bfloat16_statistics_keep_a_mean_bfloat16_cannot_hold[{impl}] (half_precision)",
               _dtype("bfloat16"))
      for impl in ("tensorflow-sonnet", "torch-batchnorm1d", "torch-batchnorm2d", "jax-haiku", "jax-equinox_ema",
                   "jax-equinox_batch", "mlx-batchnorm")),
    NotDrawn("tensorflow-tf1", "4-D batches", "test_channel_axis_of_4d_input[tensorflow-tf1-*] (moving_variance_update)",
             lambda spec, kind: spec.ndim == 4),
    NotDrawn("tensorflow-sonnet", "channels-last 4-D batches", "test_channel_axis_of_4d_input[tensorflow-sonnet-channels_last-*] "
             "(moving_variance_update)", lambda spec, kind: spec.ndim == 4 and spec.channel_axis == 3),
    *(NotDrawn(impl, "a large mean against the spread", f"test_a_large_mean_against_the_spread_keeps_the_outputs_finite[{impl}-*] "
               "(variance_robustness)", lambda spec, kind: kind == "large mean against spread")
      for impl in ("jax-haiku", "torch-keras3")),
)


def not_drawn(impl_id: str, declared, spec, kind: str) -> NotDrawn | None:
    """The entry that leaves this case out of the property suite for ``impl_id``, or None."""
    if spec.dtype == "float16" and declared.half_precision_range.statistics_in_float16:
        return NotDrawn(impl_id, "float16", HALF_STATISTICS, _dtype("float16"))
    return next((entry for entry in NOT_DRAWN if entry.excludes(impl_id, spec, kind)), None)
