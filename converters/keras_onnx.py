"""Keras -> ONNX: Keras 3's own ``model.export(format="onnx")`` (on the TensorFlow backend it runs
tf2onnx on the model's traced function), ``tf2onnx.convert.from_keras`` on a Keras 3 model and on a
tf_keras (Keras 2) model, and the chain Keras -> ONNX -> PyTorch (``onnx2torch`` on Keras's export).

A Keras model has no training mode: a traced Keras model is its inference call, so every path here
writes the BatchNorm of inference, whatever the source did last.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from adapters.rows import CONVERTERS

from .base import Artifact, Converter, folding
from .onnx_artifact import read_onnx, run_onnx
from .onnx_torch import OnnxToTorch

#: What tf2onnx leaves of an inference BatchNorm (measured): its arithmetic, y = x * a + b, as a Mul and
#: an Add (after a Dense, the Dense's bias joins the Add; after a Conv, all of it is in the Conv's
#: weights and bias, between the transposes of Keras's channels-last layout).
FOLDED = {
    "batchnorm_kept": folding("folded into Mul/Add", "folded into MatMul/Mul/Add", "folded into Transpose/Conv/Transpose"),
    "epsilon": "folded",
    "momentum": "folded",
    "statistics": "folded",
    "inference": "matches",
    "training_export": "folded into Mul/Add, silently",
    "continued_training": "nothing to train (folded)",
}


class KerasToOnnx(Converter):
    frameworks = ("tensorflow", "onnx")
    target = "onnx"
    source = "keras"

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            proto = self.export(model, example)
        return read_onnx(proto, tuple(str(w.message).splitlines()[0] for w in caught))

    def export(self, model, example: np.ndarray):
        """The ONNX model (a ModelProto) this path writes."""
        raise NotImplementedError

    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        return run_onnx(artifact.native, batch)


class KerasExport(KerasToOnnx):
    """``model.export(path, format="onnx")``, Keras 3's own export."""

    declared = FOLDED

    def export(self, model, example):
        import onnx

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            model.export(str(path), format="onnx", verbose=False)
            return onnx.load(str(path))


class KerasTf2onnx(KerasToOnnx):
    """``tf2onnx.convert.from_keras(model, input_signature)`` on a Keras 3 model."""

    # tf2onnx 1.17.0 looks the model's inputs up by Keras 2's tensor names (measured)
    declared = CONVERTERS.every_row("cannot run (KeyError)")

    def export(self, model, example):
        import tensorflow as tf
        import tf2onnx

        signature = [tf.TensorSpec((None, *example.shape[1:]), tf.float32)]
        try:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature)
        except KeyError as error:
            # the key is a Keras 3 tensor's name, numbered by how many tensors the process made before
            # ('keras_tensor_11'): the number is dropped so that the matrix's evidence does not depend on it
            raise KeyError(re.sub(r"_\d+$", "_<n>", str(error.args[0]))) from error
        return proto


class TfKerasTf2onnx(KerasTf2onnx):
    """``tf2onnx.convert.from_keras`` on a tf_keras (Keras 2) model, the Keras it was written for."""

    source = "tf_keras"
    declared = FOLDED


class KerasToOnnxToTorch(OnnxToTorch):
    """Keras 3's ONNX export, then ``onnx2torch``: the chain Keras -> ONNX -> PyTorch."""

    frameworks = ("tensorflow", "onnx", "torch")
    source = "keras"
    exporter = KerasExport
