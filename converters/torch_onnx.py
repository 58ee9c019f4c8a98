"""PyTorch -> ONNX with ``torch.onnx.export``: the default exporter (``dynamo=True``, torch.export
then onnxscript) with and without its graph optimization, and the TorchScript exporter
(``dynamo=False``, deprecated since PyTorch 2.9 but still in the pinned 2.13) with and without
constant folding. Each is called with the defaults a user would leave alone, but for the switch the
path is about.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from .base import Artifact, Converter, folding
from .onnx_artifact import read_onnx, run_onnx


class TorchToOnnx(Converter):
    frameworks = ("torch", "onnx")
    target = "onnx"
    #: The keyword arguments of torch.onnx.export this path is about.
    options: dict = {}

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        import onnx
        import torch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if self.options.get("dynamo", True):
                proto = torch.onnx.export(model, (torch.from_numpy(example),), verbose=False, **self.options).model_proto
            else:
                buffer = io.BytesIO()
                torch.onnx.export(model, (torch.from_numpy(example),), buffer, verbose=False, **self.options)
                proto = onnx.load_from_string(buffer.getvalue())
        return read_onnx(proto, tuple(str(w.message).splitlines()[0] for w in caught))

    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        return run_onnx(artifact.native, batch)


#: A path that keeps the BatchNormalization node wherever it sits, and what it carries in it.
KEPT = {
    "batchnorm_kept": "kept",
    "epsilon": "carried as float32",
    "momentum": "inverted (0.8)",
    "statistics": "bit-equal",
    "inference": "matches",
}
#: The BatchNorm alone, trained on in the artifact: ONNX's node stores the biased batch variance where
#: PyTorch stores the unbiased one, n/(n-1) more (measured ratios of the moving variances after 20 steps).
CONTINUED = "each follows its own conventions; target/source moving variance 0.51 at batch 2, 0.88 at batch 8, 0.98 at batch 64"


def folded_after(*shapes: str, into: dict[str, str]) -> dict[str, str]:
    """KEPT, but for the BatchNorm after each of ``shapes``, folded into the operator ``into`` names."""
    def cell(kept_value, folded_value):
        return folding(*(folded_value(shape) if shape in shapes else kept_value for shape in ("alone", "after Linear", "after Conv")))
    declared = {row: cell(value, lambda shape: "folded") for row, value in KEPT.items() if row not in ("batchnorm_kept", "inference")}
    return {**KEPT, **declared, "batchnorm_kept": cell("kept", lambda shape: f"folded into {into[shape]}")}


class TorchToOnnxDynamo(TorchToOnnx):
    """``torch.onnx.export(model, args)``: the torch.export-based exporter, optimized (the default)."""

    options = {"dynamo": True}
    # onnxscript's optimizer folds a BatchNormalization into the Gemm or Conv before it; a source left
    # in training mode is exported as inference arithmetic, with torch.onnx's warning
    declared = {**folded_after("after Linear", "after Conv", into={"after Linear": "Gemm", "after Conv": "Conv"}),
                "training_export": "inference BatchNorm, with a warning", "continued_training": CONTINUED}


class TorchToOnnxDynamoUnoptimized(TorchToOnnx):
    """The same with ``optimize=False``: onnxscript's optimizer, which folds constants, does not run."""

    options = {"dynamo": True, "optimize": False}
    declared = {**KEPT, "training_export": "inference BatchNorm, with a warning", "continued_training": CONTINUED}


class TorchToOnnxTorchScript(TorchToOnnx):
    """``dynamo=False``: the TorchScript exporter, with its default ``do_constant_folding=True``."""

    options = {"dynamo": False}
    # constant folding fuses Conv + BatchNorm (not Gemm + BatchNorm); its default training=EVAL exports
    # a source left in training mode as inference, without a word
    declared = {**folded_after("after Conv", into={"after Conv": "Conv"}), "training_export": "inference BatchNorm, silently", "continued_training": CONTINUED}


class TorchToOnnxTorchScriptUnfolded(TorchToOnnx):
    """``dynamo=False, do_constant_folding=False``."""

    options = {"dynamo": False, "do_constant_folding": False}
    declared = {**KEPT, "training_export": "inference BatchNorm, silently", "continued_training": CONTINUED}
