"""ONNX -> TensorFlow with ``onnx2tf``, in an environment of its own.

onnx2tf 1.29.24 pins tensorflow 2.19.0, onnx 1.19.1, onnxruntime 1.23.0 and numpy 1.26.4 exactly,
which cannot be installed beside bnparity's pins (``environments/onnx2tf.txt`` says which). It runs
where its users run it, in an environment of its own (``.venv-onnx2tf``, built by ``.ci/run``), in
the ``onnx2tf`` worker (``adapters.processes.ENVIRONMENTS``). The chain: PyTorch -> ONNX with the
TorchScript exporter without constant folding, so that the ONNX keeps its BatchNormalization node
wherever it sits (as for onnx2keras), then ``onnx2tf.convert`` with its defaults (it simplifies the
graph with onnxsim and returns a tf_keras model; it also writes a SavedModel and TFLite files).

onnx2tf turns an image model channels-last: the converted model of the BatchNorm after a Conv takes
NHWC batches and returns NHWC outputs, so ``run`` transposes the NCHW batch in and the output back,
as a user of the converted model must. Between the two environments only bytes and plain values
travel: the ONNX model serialized, and float32 arrays as (bytes, shape).
"""

from __future__ import annotations

import numpy as np

from .base import Artifact, ConvertedBatchNorm, Converter
from .torch_onnx import TorchToOnnxTorchScriptUnfolded


def _send(array: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
    array = np.ascontiguousarray(array, np.float32)
    return array.tobytes(), array.shape


def _received(sent: tuple[bytes, tuple[int, ...]]) -> np.ndarray:
    data, shape = sent
    return np.frombuffer(data, np.float32).reshape(shape).copy()


class TorchToOnnxToTensorflow(Converter):
    frameworks = ("torch", "onnx", "tensorflow")
    target = "keras"  # a tf_keras model, which lives in the onnx2tf worker: the artifact's native is its handle there
    # onnx2tf writes the node as a tf.math.multiply and an add (TFOpLambda layers of a tf_keras model,
    # the inference arithmetic with the node's statistics folded into the two constants), beside the
    # layers of the Linear (cast, matmul, multiply, add: the Gemm) and the Conv (convolution, add);
    # the TorchScript exporter warns that it is deprecated, never about training mode (measured)
    declared = {
        "batchnorm_kept": "alone: folded into multiply/add; after Linear: folded into cast/matmul/multiply/add/multiply/add; "
                          "after Conv: folded into convolution/add/multiply/add",
        "epsilon": "folded",
        "momentum": "folded",
        "statistics": "folded",
        "inference": "matches",
        "training_export": "folded into multiply/add, silently",
        "continued_training": "nothing to train (folded)",
    }

    def convert(self, model, example: np.ndarray, training: bool = False) -> Artifact:
        from adapters.worker import Worker

        exported = TorchToOnnxTorchScriptUnfolded().convert(model, example, training)
        handle, operators, norms = Worker.get("onnx2tf").call(
            "call", "converters.onnx_tensorflow:convert_here", exported.native.SerializeToString())
        batchnorms = tuple(ConvertedBatchNorm(epsilon=n["epsilon"], momentum=n["momentum"],
                                              **{k: np.asarray(n[k], np.float64) for k in ("mean", "variance", "gamma", "beta")})
                           for n in norms)
        return Artifact(tuple(operators), batchnorms, handle, exported.warnings)

    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        from adapters.worker import Worker

        image = batch.ndim == 4
        sent = _send(batch.transpose(0, 2, 3, 1) if image else batch)  # onnx2tf's model takes NHWC images
        output = _received(Worker.get("onnx2tf").call("call", "converters.onnx_tensorflow:run_here", artifact.native, sent))
        return (output.transpose(0, 3, 1, 2) if image else output).astype(np.float64)


# -- in the onnx2tf worker, in onnx2tf's environment -------------------------------------------------------

#: The converted models of this worker, by handle.
_MODELS: list = []


def _operator(layer) -> str:
    """A layer as the operator it computes: a TFOpLambda's TensorFlow function (``tf.math.multiply``
    -> ``multiply``), else its class."""
    symbol = getattr(layer, "symbol", None)
    return symbol.rsplit(".", 1)[-1] if symbol else type(layer).__name__


def convert_here(onnx_bytes: bytes) -> tuple[int, list[str], list[dict]]:
    """onnx2tf's conversion of the ONNX model, with its defaults: a handle to the tf_keras model, its
    layers as operators, and the numbers of every BatchNormalization layer it kept."""
    import tempfile

    import onnx
    import onnx2tf

    with tempfile.TemporaryDirectory() as folder:
        model = onnx2tf.convert(onnx_graph=onnx.load_from_string(onnx_bytes), output_folder_path=folder, non_verbose=True)
    operators = [_operator(layer) for layer in model.layers if type(layer).__name__ != "InputLayer"]
    norms = [{"epsilon": float(layer.epsilon), "momentum": float(layer.momentum),
              **{k: np.asarray(getattr(layer, attribute), np.float64).tolist() for k, attribute in
                 (("mean", "moving_mean"), ("variance", "moving_variance"), ("gamma", "gamma"), ("beta", "beta"))}}
             for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    _MODELS.append(model)
    return len(_MODELS) - 1, operators, norms


def run_here(handle: int, sent: tuple[bytes, tuple[int, ...]]) -> tuple[bytes, tuple[int, ...]]:
    """The converted model's output for the batch, called as a tf_keras model is."""
    return _send(np.asarray(_MODELS[handle](_received(sent))))
