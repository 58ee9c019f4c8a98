"""ONNX -> Keras with ``onnx2keras``, and PyTorch -> Keras with ``nobuco`` and ``pytorch2keras``.

``onnx2keras`` converts the ONNX that PyTorch's TorchScript exporter writes without constant folding
(a BatchNormalization node to convert): the chain PyTorch -> ONNX -> Keras, built as a Keras 3
functional model on the TensorFlow backend. ``nobuco`` converts a PyTorch module to Keras directly,
tracing it; it was written against Keras 2 (``keras.src.engine``), and where it cannot import with the
pinned Keras, that error is the path's observation.
"""

from __future__ import annotations

import logging

import numpy as np

from adapters.rows import CONVERTERS

from .base import Artifact, ConvertedBatchNorm, Converter
from .torch_onnx import TorchToOnnxTorchScriptUnfolded


def read_keras(model, warnings: tuple[str, ...] = ()) -> Artifact:
    """A Keras model as an artifact: its layer classes and its BatchNormalization layers' numbers."""
    norms = tuple(
        ConvertedBatchNorm(epsilon=float(layer.epsilon), momentum=float(layer.momentum),
                           mean=np.asarray(layer.moving_mean, np.float64), variance=np.asarray(layer.moving_variance, np.float64),
                           gamma=np.asarray(layer.gamma, np.float64), beta=np.asarray(layer.beta, np.float64), native=layer)
        for layer in model.layers if type(layer).__name__ == "BatchNormalization"
    )
    operators = tuple(type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer")
    return Artifact(operators, norms, model, warnings)


class ToKeras(Converter):
    """A path whose artifact is a Keras model, run as one is called."""

    target = "keras"

    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        return np.asarray(artifact.native([batch.astype(np.float32)]), np.float64)


class TorchToOnnxToKeras(ToKeras):
    frameworks = ("torch", "onnx", "tensorflow")
    # onnx2keras maps the node onto keras.layers.BatchNormalization(momentum=<the node's>, epsilon=<the
    # node's>, axis=1) with its four tensors: Keras's momentum weighs the old value, as ONNX's does
    declared = {
        "batchnorm_kept": "kept",
        "epsilon": "carried as float32",
        "momentum": "inverted (0.8)",
        "statistics": "bit-equal",
        "inference": "matches",
        "training_export": "inference BatchNorm, silently",
        "continued_training": "each follows its own conventions; target/source moving variance 0.51 at batch 2, "
                              "0.88 at batch 8, 0.98 at batch 64",
    }

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        from onnx2keras import onnx_to_keras

        exported = TorchToOnnxTorchScriptUnfolded().convert(model, example, training)
        logging.getLogger("onnx2keras").setLevel(logging.WARNING)  # it logs every node at DEBUG
        name = exported.native.graph.input[0].name
        return read_keras(onnx_to_keras(exported.native, [name], verbose=False), exported.warnings)


class TorchToKerasNobuco(ToKeras):
    frameworks = ("torch", "tensorflow")
    # nobuco 0.17.0 imports keras.src.engine.keras_tensor, which Keras 3 does not have (measured)
    declared = CONVERTERS.every_row("cannot run (ModuleNotFoundError)")

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        import nobuco
        import torch

        keras_model = nobuco.pytorch_to_keras(model, args=[torch.from_numpy(example)],
                                              inputs_channel_order=nobuco.ChannelOrder.PYTORCH,
                                              outputs_channel_order=nobuco.ChannelOrder.PYTORCH)
        return read_keras(keras_model)


class TorchToKerasPytorch2keras(ToKeras):
    frameworks = ("torch", "tensorflow")
    # pytorch2keras 0.2.4 (its latest) imports onnx.optimizer, which onnx removed in 1.9 (measured)
    declared = CONVERTERS.every_row("cannot run (ImportError)")

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        import torch
        from pytorch2keras import pytorch_to_keras

        keras_model = pytorch_to_keras(model, torch.from_numpy(example), [example.shape[1:]], verbose=False)
        return read_keras(keras_model)
