"""Every conversion path, by id, loaded only when a case that needs it runs."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from adapters.registry import FRAMEWORKS


@dataclass(frozen=True)
class ConversionPath:
    id: str
    target: str  #: "module:Class" of the Converter
    distributions: tuple[str, ...]  #: the packages the path runs, whose versions the matrix states
    frameworks: tuple[str, ...]  #: the framework families it needs (their markers select it)

    def __post_init__(self):
        unknown = [f for f in self.frameworks if f not in FRAMEWORKS]
        if unknown:
            raise ValueError(f"{self.id}: unknown frameworks {unknown}")

    def load(self):
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        found = {}
        for dist in self.distributions:
            try:
                found[dist] = version(dist)
            except PackageNotFoundError:
                found[dist] = "not installed"
        return found

    def missing(self) -> list[str]:
        return [d for d, v in self.versions().items() if v == "not installed"]


_TORCH_ONNX = ("torch", "onnx", "onnxruntime")
PATHS: dict[str, ConversionPath] = {p.id: p for p in (
    ConversionPath("torch-to-onnx-dynamo", "converters.torch_onnx:TorchToOnnxDynamo", (*_TORCH_ONNX, "onnxscript"), ("torch", "onnx")),
    ConversionPath("torch-to-onnx-dynamo-unoptimized", "converters.torch_onnx:TorchToOnnxDynamoUnoptimized",
                   (*_TORCH_ONNX, "onnxscript"), ("torch", "onnx")),
    ConversionPath("torch-to-onnx-torchscript", "converters.torch_onnx:TorchToOnnxTorchScript", _TORCH_ONNX, ("torch", "onnx")),
    ConversionPath("torch-to-onnx-torchscript-unfolded", "converters.torch_onnx:TorchToOnnxTorchScriptUnfolded",
                   _TORCH_ONNX, ("torch", "onnx")),
    ConversionPath("torch-to-onnx-to-torch", "converters.onnx_torch:TorchToOnnxToTorch",
                   (*_TORCH_ONNX, "onnx2torch", "torchvision"), ("torch", "onnx")),
    ConversionPath("torch-to-onnx-to-keras", "converters.onnx_keras:TorchToOnnxToKeras",
                   (*_TORCH_ONNX, "onnx2keras", "tensorflow", "keras"), ("torch", "onnx", "tensorflow")),
    ConversionPath("torch-to-keras-nobuco", "converters.onnx_keras:TorchToKerasNobuco",
                   ("torch", "nobuco", "tensorflow", "keras"), ("torch", "tensorflow")),
)}
