"""Keras 2 (``tf_keras``) ``BatchNormalization``, on its non-fused path and on its fused path.

The two paths take the same arguments and differ in one convention: the fused path hands the
batch to TensorFlow's ``FusedBatchNormV3`` kernel, which returns the *unbiased* variance for the
moving average, while the non-fused path uses the biased one (tensorflow/tensorflow#55545). Which
path runs is decided by ``fused`` and by the input's rank (4-D or 5-D only), so the same model
stores different moving variances depending on whether its batches are images or vectors.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from ..imports import TENSORFLOW_KERAS_UNUSED, hidden
from .arguments import TF_KERAS
from .keras3 import Keras3BatchNorm, keras_founding_network

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with hidden(*TENSORFLOW_KERAS_UNUSED):
    import tensorflow as tf
    import tf_keras


class TfKerasBatchNorm(Keras3BatchNorm):
    """``tf_keras.layers.BatchNormalization(fused=False)``: the path every 2-D and 3-D batch takes."""

    declared = TF_KERAS
    fused = False

    def native_arguments(self) -> dict:
        return {**super().native_arguments(), "fused": self.fused}

    def spec_from_native(self, native: dict):
        return super().spec_from_native({k: v for k, v in native.items() if k != "fused"})

    def native_defaults(self) -> dict:
        default = tf_keras.layers.BatchNormalization()
        return {"momentum": default.momentum, "epsilon": default.epsilon}

    def native_state_names(self) -> tuple:
        layer = self.layer
        weights = (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)
        # "batch_normalization_7/moving_mean:0" -> "moving_mean": the name a checkpoint key ends in
        return tuple(w.name.split("/")[-1].split(":")[0] if w is not None else "absent" for w in weights)

    def _weight_list(self) -> list[str]:
        """``layer.weights``, the order of ``get_weights()`` and ``set_weights()``."""
        return [w.name.split("/")[-1].split(":")[0] for w in self.layer.weights]

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        return keras_founding_network(tf_keras, self.native, self.native_ndim, kernel, second_kernel, x, y, learning_rate)

    def _build(self) -> None:
        self.layer = tf_keras.layers.BatchNormalization(**self.native)
        shape = [None] * (self.native_ndim or self.spec.ndim)
        shape[self.native["axis"]] = self.spec.num_features
        self.layer.build(tf.TensorShape(shape))

    def _run(self, batch: np.ndarray, training: bool) -> np.ndarray:
        output = self.layer(tf.constant(batch, dtype=self.spec.dtype), training=training)
        return output.numpy()


class TfKerasFusedBatchNorm(TfKerasBatchNorm):
    """``tf_keras.layers.BatchNormalization(fused=True)``: channels-last 4-D batches through the fused kernel.

    Batches of lower rank get singleton spatial axes (N, C) -> (N, 1, 1, C), which change no
    statistic, so every suite runs the fused kernel on the same numbers as the other paths. The
    fused kernel has no float64: the layer refuses ``fused=True`` with a float64 dtype ("Passing
    `fused=True` is only supported when the compute dtype is float16, bfloat16, or float32"), so
    bnparity refuses the description first.
    """

    declared = replace(TF_KERAS, moving_variance_update="unbiased", float64_momentum="no float64")
    fused = True
    dtypes = ("float16", "bfloat16", "float32")
    ndims = (2, 3, 4)
    native_ndim = 4
    native_channel_axis = -1

    def native_arguments(self) -> dict:
        return {**super().native_arguments(), "axis": -1}

    def spec_from_native(self, native: dict):
        return super().spec_from_native({**native, "axis": self.spec.axis})
