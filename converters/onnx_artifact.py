"""Reading an ONNX model as a converted artifact: its operators, each BatchNormalization node's
attributes and tensors (initializers or Constant nodes), and running it with onnxruntime."""

from __future__ import annotations

import numpy as np

from .base import Artifact, ConvertedBatchNorm


def read_onnx(proto, warnings: tuple[str, ...] = ()) -> Artifact:
    import onnx
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is not None:
                tensors[node.output[0]] = numpy_helper.to_array(value.t)
    norms = []
    for node in proto.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        scale, bias, mean, var = (np.asarray(tensors.get(name, np.full(1, np.nan)), np.float64) for name in node.input[1:5])
        norms.append(ConvertedBatchNorm(epsilon=attributes.get("epsilon"), momentum=attributes.get("momentum"),
                                        mean=mean, variance=var, gamma=scale, beta=bias,
                                        training_mode=attributes.get("training_mode")))
    operators = tuple(node.op_type for node in proto.graph.node if node.op_type != "Constant")
    return Artifact(operators, tuple(norms), proto, warnings)


def run_onnx(proto, batch: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: batch.astype(np.float32)})[0], np.float64)
