"""Sonnet 2 ``snt.BatchNorm`` (``sonnet/src/batch_norm.py``), on the pinned TensorFlow, eagerly.

Sonnet is TensorFlow's other layer library (its id is in the tensorflow family), and its conventions are Haiku's, not
Keras's: ``decay_rate`` (default 0.999) weighs the old value, but the moving statistics are
``snt.ExponentialMovingAverage`` objects (``sonnet/src/moving_averages.py``) that keep a hidden
average starting at zero and divide it by ``1 - decay**t``, so the first step stores the batch
value itself, and both moving statistics read 0 before any step. The default epsilon is 1e-5.
A 4-D channels-last batch goes through ``FusedBatchNormV2``, whose variance output is the
unbiased one, so on images the moving variance is unbiased and on vectors biased, as in tf_keras's
fused path. Scale and offset are created in the input's dtype, and so are the averages.

Sonnet creates its variables on the first call. This adapter runs that same initialization
(``_initialize``, which creates every variable at zero or one) when the layer is built, so the
state can be read before any step; it changes no value. ``test_local_stats`` (normalize inference
batches with their own statistics) is a call argument, not covered: the neutral description has
no field for inference that ignores the moving statistics while keeping them.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from ..base import Adapter, State, dtype_name, exponential_only
from ..conventions import Conventions, HalfPrecision
from ..imports import TENSORFLOW_KERAS_UNUSED, hidden
from ..spec import BatchNormSpec, SpecError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with hidden(*TENSORFLOW_KERAS_UNUSED):
    import sonnet as snt
    import tensorflow as tf


class SonnetBatchNorm(Adapter):
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.999,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        initial_variance=0.0,
        first_step="debiased",
        state_names=("moving_mean/average", "moving_variance/average", "scale", "offset"),
        weight_order=("offset", "scale", "moving_mean/average", "moving_variance/average"),
        half_precision=HalfPrecision.moving_in("input"),
    )
    momentum_argument = "decay_rate"
    epsilon_argument = "eps"

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, "Sonnet")
        if spec.channel_axis not in (1, spec.ndim - 1):
            raise SpecError("axis", spec.axis, "must be the second or the last axis for Sonnet (data_format)")
        return {
            "create_scale": spec.scale,
            "create_offset": spec.center,
            "decay_rate": self.declared.native_momentum(spec.decay),
            "eps": spec.epsilon,
            "data_format": "channels_last" if spec.channel_axis == spec.ndim - 1 else "channels_first",
            "dtype": spec.dtype,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        channel_axis = self.spec.ndim - 1 if native["data_format"] == "channels_last" else 1
        return replace(self.spec, decay=self.declared.decay_of(native["decay_rate"]), epsilon=native["eps"],
                       center=native["create_offset"], scale=native["create_scale"], dtype=native["dtype"],
                       axis=self.spec.axis if self.spec.channel_axis == channel_axis else channel_axis,
                       averaging="exponential")

    def native_defaults(self) -> dict:
        default = snt.BatchNorm(create_scale=True, create_offset=True)
        return {"momentum": float(default.moving_mean._decay), "epsilon": float(default._eps)}

    def native_state_names(self) -> tuple:
        layer = self.layer
        variables = (layer.moving_mean.average, layer.moving_variance.average,
                     layer.scale if self.native["create_scale"] else None, layer.offset if self.native["create_offset"] else None)
        # "batch_norm/moving_mean/average:0" -> "moving_mean/average"
        return tuple("/".join(v.name.split(":")[0].split("/")[1:]) if v is not None else "absent" for v in variables)

    def moving_dtype(self) -> str:
        return dtype_name(self.layer.moving_mean.average.dtype)

    def _build(self) -> None:
        arguments = {k: v for k, v in self.native.items() if k != "dtype"}
        self.layer = snt.BatchNorm(**arguments)
        shape = [1] * self.spec.ndim
        shape[self.spec.channel_axis] = self.spec.num_features
        self.layer._initialize(tf.zeros(shape, self.spec.dtype))

    def _run(self, batch: np.ndarray, training: bool):
        return self.layer(tf.constant(batch, dtype=self.spec.dtype), is_training=training).numpy()

    def _train(self, batch: np.ndarray):
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray):
        return self._run(batch, training=False)

    def _weight_list(self) -> list[str]:
        """``module.variables``, in the order Sonnet (``tf.Module``) lists them."""
        return ["/".join(v.name.split(":")[0].split("/")[1:]) for v in self.layer.variables]

    def _read(self) -> tuple:
        layer = self.layer
        return tuple(v.numpy() for v in (layer.moving_mean.average, layer.moving_variance.average, layer.scale, layer.offset))

    def _write(self, state: State) -> None:
        """Set each average, and its hidden value so that the next step continues from it."""
        layer = self.layer
        for ema, value in ((layer.moving_mean, state.mean), (layer.moving_variance, state.variance)):
            counter = int(ema._counter.numpy())
            debias = 1 - ema._decay**counter if counter > 0 else 1.0
            shape, dtype = ema.average.shape, ema.average.dtype
            ema.average.assign(tf.constant(value.reshape(shape), dtype))
            ema._hidden.assign(tf.constant(value.reshape(shape) * debias, dtype))
        for variable, value in ((layer.scale, state.gamma), (layer.offset, state.beta)):
            variable.assign(tf.constant(value.reshape(variable.shape), variable.dtype))

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The network with ``snt.Linear`` and this layer, one ``snt.optimizers.Adam`` step under a GradientTape."""
        arguments = {k: v for k, v in self.native.items() if k not in ("dtype", "data_format")}
        dense_1 = snt.Linear(1, with_bias=False, w_init=snt.initializers.Constant(kernel))
        dense_2 = snt.Linear(1, with_bias=False, w_init=snt.initializers.Constant(second_kernel))
        bn_1, bn_2 = snt.BatchNorm(**arguments), snt.BatchNorm(**arguments)
        x, y = tf.constant(x, tf.float32), tf.constant(y, tf.float32)
        optimizer = snt.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-8)
        with tf.GradientTape() as tape:
            pred = bn_2(dense_2(tf.nn.relu(bn_1(dense_1(x), is_training=True))), is_training=True)
            loss = tf.reduce_mean(tf.square(pred - y))
        variables = [v for module in (dense_1, bn_1, dense_2, bn_2) for v in module.trainable_variables]
        optimizer.apply(tape.gradient(loss, variables), variables)
        values = {"kernel": dense_1.w, "moving_mean": bn_1.moving_mean.value, "moving_variance": bn_1.moving_variance.value,
                  "gamma": bn_1.scale, "beta": bn_1.offset, "bn_1": bn_1(dense_1(x), is_training=False)}
        return {name: np.asarray(value) for name, value in values.items()}
