"""Every conversion path, by id, loaded only when a case that needs it runs."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.registry import Column


@dataclass(frozen=True)
class ConversionPath(Column):
    """A conversion path: ``target`` is its Converter class; source and target are imported together in
    the ``converters`` worker, never in the test process."""

    worker: str | None = "converters"


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
    # onnx2tf runs in an environment of its own (converters/onnx_tensorflow.py); the source's side here
    ConversionPath("torch-to-onnx-to-tensorflow", "converters.onnx_tensorflow:TorchToOnnxToTensorflow",
                   _TORCH_ONNX, ("torch", "onnx", "tensorflow"),
                   environment="onnx2tf", environment_distributions=("onnx2tf", "tensorflow", "tf-keras", "onnx", "onnxsim")),
    ConversionPath("tensorflow-keras3-to-onnx-export", "converters.keras_onnx:KerasExport",
                   ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"), ("tensorflow", "onnx")),
    ConversionPath("tensorflow-keras3-to-onnx-tf2onnx", "converters.keras_onnx:KerasTf2onnx",
                   ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"), ("tensorflow", "onnx")),
    ConversionPath("tensorflow-tf_keras-to-onnx-tf2onnx", "converters.keras_onnx:TfKerasTf2onnx",
                   ("tensorflow", "tf-keras", "tf2onnx", "onnx", "onnxruntime"), ("tensorflow", "onnx")),
    ConversionPath("tensorflow-keras3-to-onnx-to-torch", "converters.keras_onnx:KerasToOnnxToTorch",
                   ("tensorflow", "keras", "tf2onnx", "onnx", "onnx2torch", "torchvision", "torch"), ("tensorflow", "onnx", "torch")),
    ConversionPath("torch-to-keras-nobuco", "converters.onnx_keras:TorchToKerasNobuco",
                   ("torch", "nobuco", "tensorflow", "keras"), ("torch", "tensorflow")),
    ConversionPath("torch-to-keras-pytorch2keras", "converters.onnx_keras:TorchToKerasPytorch2keras",
                   ("torch", "pytorch2keras", "onnx", "tensorflow", "keras"), ("torch", "tensorflow")),
)}
