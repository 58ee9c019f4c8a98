"""Keras's vocabulary for a BatchNorm layer, shared by Keras 3, tf_keras and TensorFlow 1's layer.

All three take ``axis, momentum, epsilon, center, scale`` with momentum weighing the old value;
this module holds that translation once, and imports no framework, so the TensorFlow 1 adapter
(whose framework lives in a worker process) can use it without importing Keras.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from ..base import exponential_only
from ..conventions import BeyondRange, Conventions, HalfPrecision
from ..spec import BatchNormSpec

#: tf_keras's non-fused path and TensorFlow 1's layer on 2-D and 3-D input: parameters and moving
#: statistics in float32 for half-precision input.
TF_KERAS = Conventions(
    momentum_weight="old",
    default_momentum=0.99,
    default_epsilon=1e-3,
    train_normalize_variance="biased",
    moving_variance_update="biased",
    state_names=("moving_mean", "moving_variance", "gamma", "beta"),
    weight_order=("gamma", "beta", "moving_mean", "moving_variance"),
    half_precision=HalfPrecision.moving_in("float32"),
    # keras/src/layers/normalization/batch_normalization.py (tf_keras): _assign_moving_average converts
    # 1.0 - momentum to a tensor, float32, before casting it to the float64 variable's dtype
    float64_momentum="batch weight in float32",
    half_precision_range=BeyondRange(outputs="±1", stores="it"),
)


class KerasArguments:
    """``native_arguments`` and its inverse in Keras's vocabulary, for an Adapter subclass."""

    #: How a refusal names the framework.
    framework_name: ClassVar[str] = "Keras"

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, self.framework_name)
        return {
            "axis": spec.axis,
            "momentum": self.declared.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "center": spec.center,
            "scale": spec.scale,
            "dtype": spec.dtype,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(
            self.spec,
            decay=self.declared.decay_of(native["momentum"]),
            epsilon=native["epsilon"],
            center=native["center"],
            scale=native["scale"],
            dtype=native["dtype"],
            axis=native["axis"],
            averaging="exponential",
        )
