"""ONNX -> PyTorch with ``onnx2torch``, at the end of a chain (``OnnxToTorch``): here on the ONNX that
PyTorch's TorchScript exporter writes without constant folding (so a BatchNormalization node is
there to convert), the chain PyTorch -> ONNX -> PyTorch; ``keras_onnx.py`` has Keras -> ONNX ->
PyTorch. onnx2torch imports torchvision, so a chain needs the torchvision built for the pinned
torch; where that cannot run, the error is the chain's observation."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from adapters.rows import CONVERTERS

from .base import Artifact, ConvertedBatchNorm, Converter
from .torch_onnx import TorchToOnnxTorchScriptUnfolded


def onnx_to_torch(exported: Artifact, training: bool) -> Artifact:
    """An ONNX artifact converted by ``onnx2torch``, read back as a PyTorch module's BatchNorms."""
    import torch
    from onnx2torch import convert

    module = convert(exported.native)
    module.train(training)
    norms = tuple(
        ConvertedBatchNorm(epsilon=layer.eps, momentum=layer.momentum,
                           mean=layer.running_mean.detach().double().numpy(), variance=layer.running_var.detach().double().numpy(),
                           gamma=layer.weight.detach().double().numpy(), beta=layer.bias.detach().double().numpy())
        for layer in module.modules() if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)
    )
    operators = tuple(type(m).__name__ for m in module.modules() if not list(m.children()))
    return Artifact(operators, norms, module, exported.warnings)


def run_torch(artifact: Artifact, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return artifact.native(torch.from_numpy(batch.astype(np.float32))).double().numpy()


class OnnxToTorch(Converter):
    """A chain that ends in ``onnx2torch``: the ONNX its ``exporter`` writes, converted to a PyTorch module."""

    target = "torch"
    #: The path that writes the ONNX this chain converts.
    exporter: ClassVar[type[Converter]]
    # onnx2torch 1.5.15 imports torchvision; the torchvision for torch 2.13.0 (0.28.0, the only one
    # on PyPI) is built against CUDA torch and does not load against the CPU build:
    # "RuntimeError: operator torchvision::nms does not exist" (measured, at import)
    declared = CONVERTERS.every_row("cannot run (RuntimeError)")

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        return onnx_to_torch(self.exporter().convert(model, example, training), training)

    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        return run_torch(artifact, batch)


class TorchToOnnxToTorch(OnnxToTorch):
    frameworks = ("torch", "onnx")
    exporter = TorchToOnnxTorchScriptUnfolded
