"""Keras 3 ``keras.layers.BatchNormalization`` on the TensorFlow backend.

Keras's ``momentum=m`` weighs the *old* value: ``moving = m * moving + (1 - m) * batch``, so the
neutral decay is passed through unchanged. Keras 3 feeds the biased batch variance to the moving
average on every input rank (unlike tf_keras's fused path), and its default epsilon is 1e-3.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from ..base import Adapter, State, dtype_name
from .arguments import TF_KERAS, KerasArguments

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras  # noqa: E402  (the backend must be chosen before the import)

if keras.backend.backend() != "tensorflow":
    raise RuntimeError(
        f"keras was imported with the {keras.backend.backend()!r} backend before bnparity could choose "
        "'tensorflow'; run tensorflow-keras3 in a process that has not imported keras yet"
    )


class Keras3BatchNorm(KerasArguments, Adapter):
    id = "tensorflow-keras3"
    # tf_keras's conventions, but half-precision moving statistics are kept in the half dtype
    declared = replace(
        TF_KERAS, half_precision="float16: output float16, moving float16; bfloat16: output bfloat16, moving bfloat16"
    )

    def native_defaults(self) -> dict:
        default = keras.layers.BatchNormalization()
        return {"momentum": default.momentum, "epsilon": default.epsilon}

    def _build(self) -> None:
        self.layer = keras.layers.BatchNormalization(**self.native)
        shape = [None] * self.spec.ndim
        shape[self.spec.channel_axis] = self.spec.num_features
        self.layer.build(tuple(shape))

    def _run(self, batch: np.ndarray, training: bool) -> np.ndarray:
        inputs = keras.ops.convert_to_tensor(batch, dtype=self.spec.dtype)
        return keras.ops.convert_to_numpy(self.layer(inputs, training=training))

    def native_state_names(self) -> tuple:
        layer = self.layer
        weights = (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)
        return tuple(w.name if w is not None else "absent" for w in weights)

    def moving_dtype(self) -> str:
        return dtype_name(self.layer.moving_mean.dtype)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        return keras_founding_network(keras, self.native, self.native_ndim, kernel, second_kernel, x, y, learning_rate)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=False)

    def _read(self) -> tuple:
        layer, c = self.layer, self.spec.num_features
        gamma = layer.gamma.numpy() if layer.scale else np.ones(c)
        beta = layer.beta.numpy() if layer.center else np.zeros(c)
        return layer.moving_mean.numpy(), layer.moving_variance.numpy(), gamma, beta

    def _write(self, state: State) -> None:
        layer = self.layer
        pairs = [(layer.moving_mean, state.mean), (layer.moving_variance, state.variance)]
        pairs += [(layer.gamma, state.gamma)] if layer.scale else []
        pairs += [(layer.beta, state.beta)] if layer.center else []
        for variable, value in pairs:
            variable.assign(value.astype(dtype_name(variable.dtype)))


def keras_founding_network(module, native, native_ndim, kernel, second_kernel, x, y, learning_rate) -> dict:
    """The founding question's network in Keras 3 or tf_keras (``module``), one step under a GradientTape.

    A layer that wants 4-D batches (the fused kernel) gets (N, 1, 1, 1) and hands back (N, 1).
    """
    import tensorflow as tf

    arguments = {k: v for k, v in native.items() if k != "dtype"}
    dense_1 = module.layers.Dense(1, use_bias=False, kernel_initializer=module.initializers.Constant(kernel))
    dense_2 = module.layers.Dense(1, use_bias=False, kernel_initializer=module.initializers.Constant(second_kernel))
    bn_1, bn_2 = module.layers.BatchNormalization(**arguments), module.layers.BatchNormalization(**arguments)
    lift = (1,) * ((native_ndim or 2) - 2)

    def through(layer, h, training):
        return tf.reshape(layer(tf.reshape(h, (-1, 1) + lift), training=training), (-1, 1))

    x, y = tf.constant(x, tf.float32), tf.constant(y, tf.float32)
    optimizer = module.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-8)
    with tf.GradientTape() as tape:
        pred = through(bn_2, dense_2(tf.nn.relu(through(bn_1, dense_1(x), True))), True)
        loss = tf.reduce_mean(tf.square(pred - y))
    variables = dense_1.trainable_variables + bn_1.trainable_variables + dense_2.trainable_variables + bn_2.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    values = {
        "kernel": dense_1.kernel, "moving_mean": bn_1.moving_mean, "moving_variance": bn_1.moving_variance,
        "gamma": bn_1.gamma, "beta": bn_1.beta, "bn_1": through(bn_1, dense_1(x), False),
    }
    return values
