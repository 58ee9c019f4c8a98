"""The ONNX ``BatchNormalization`` operator with ``training_mode=1``, run by two runtimes.

From opset 14 the operator returns the updated running statistics as outputs when
``training_mode=1``: ``running = input * momentum + current * (1 - momentum)``, so ``momentum``
weighs the old value (PyTorch's exporter writes ``1 - momentum``), and ``current_var`` is the
population (biased) variance. The operator holds no state: the adapter feeds the running
statistics in and keeps what comes out. ``onnx-reference`` runs the specification's own NumPy
implementation (``onnx.reference.ReferenceEvaluator``), ``onnx-onnxruntime`` the CPU kernel of
ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..base import Adapter, State, exponential_only
from ..conventions import BeyondRange, Conventions, HalfPrecision, HalfStep
from ..spec import BatchNormSpec

OPSET = 15
INPUTS = ("X", "scale", "B", "input_mean", "input_var")
ELEMENT_TYPES = {"float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


def batch_norm_model(spec: BatchNormSpec, momentum: float, epsilon: float, training: bool) -> onnx.ModelProto:
    """A one-node model for (N, C, D1, ...) batches; in training mode it also outputs the running statistics."""
    element, c = ELEMENT_TYPES[spec.dtype], spec.num_features
    shapes = [["N", c] + [f"D{i}" for i in range(1, spec.ndim - 1)]] + [[c]] * 4
    inputs = [helper.make_tensor_value_info(name, element, shape) for name, shape in zip(INPUTS, shapes)]
    outputs = ["Y", "running_mean", "running_var"] if training else ["Y"]
    node = helper.make_node(
        "BatchNormalization", list(INPUTS), outputs, epsilon=epsilon, momentum=momentum, training_mode=int(training)
    )
    output_info = [helper.make_tensor_value_info(n, element, shape) for n, shape in zip(outputs, shapes[:1] + [[c]] * 2)]
    graph = helper.make_graph([node], "batch_norm", inputs, output_info)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


class OnnxReferenceBatchNorm(Adapter):
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.9,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("input_mean", "input_var", "scale", "B"),
        weight_order=("scale", "B", "input_mean", "input_var"),
        half_precision=HalfPrecision(HalfStep("float16", "float16"), HalfStep(refusal="not supported")),
        # onnx/defs/nn/defs.cc: momentum is a FLOAT attribute, float32 whatever the tensors' type
        float64_momentum="float32 attributes",
    )
    dtypes = ("float16", "float32", "float64")  # the NumPy runtimes have no bfloat16 kernel
    native_channel_axis = 1  # (N, C, D1, ...)
    has_training_api = False  # an operator, not a framework: nothing trains the network around it

    def native_arguments(self) -> dict:
        """The node's attributes, and whether its ``scale`` and ``B`` inputs are trained parameters.

        The operator requires both inputs; a layer without gamma or beta feeds the constants 1 and 0.
        """
        spec = self.spec
        exponential_only(spec, "ONNX")
        return {
            "momentum": self.declared.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "dtype": spec.dtype,
            "trained_scale": spec.scale,
            "trained_B": spec.center,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(self.spec, decay=self.declared.decay_of(native["momentum"]), epsilon=native["epsilon"],
                       dtype=native["dtype"], scale=native["trained_scale"], center=native["trained_B"],
                       averaging="exponential")

    def native_defaults(self) -> dict:
        """The defaults of the operator's schema."""
        attributes = onnx.defs.get_schema("BatchNormalization", OPSET).attributes
        return {name: attributes[name].default_value.f for name in ("momentum", "epsilon")}

    def native_state_names(self) -> tuple:
        names = [i.name for i in self.models[True].graph.input]
        return names[3], names[4], names[1], names[2]

    def moving_dtype(self) -> str:
        return str(self.tensors["input_mean"].dtype)

    def runner(self, model: onnx.ModelProto):
        """A callable feeds -> outputs for ``model``."""
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        return lambda feeds: evaluator.run(None, feeds)

    def _build(self) -> None:
        native, c = self.native, self.spec.num_features
        self.models = {training: batch_norm_model(self.spec, native["momentum"], native["epsilon"], training)
                       for training in (True, False)}
        self.runners = {training: self.runner(model) for training, model in self.models.items()}
        initial = {"scale": np.ones(c), "B": np.zeros(c), "input_mean": np.zeros(c), "input_var": np.ones(c)}
        self.tensors = {name: value.astype(native["dtype"]) for name, value in initial.items()}

    def _run(self, batch: np.ndarray, training: bool) -> list:
        return self.runners[training]({"X": batch.astype(self.native["dtype"]), **self.tensors})

    def _train(self, batch: np.ndarray) -> np.ndarray:
        output, self.tensors["input_mean"], self.tensors["input_var"] = self._run(batch, training=True)
        return output

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=False)[0]

    def _weight_list(self) -> list[str]:
        """The node's inputs, in the operator's order."""
        return [i.name for i in self.models[True].graph.input]

    def _read(self) -> tuple:
        return tuple(self.tensors[name] for name in ("input_mean", "input_var", "scale", "B"))

    def _write(self, state: State) -> None:
        trained = {"input_mean": True, "input_var": True, "scale": self.native["trained_scale"], "B": self.native["trained_B"]}
        for name, value in zip(trained, state):
            if trained[name]:
                self.tensors[name] = value.astype(self.native["dtype"])


class OnnxRuntimeBatchNorm(OnnxReferenceBatchNorm):
    # onnxruntime's CPU kernel computes float16 statistics in float32 (the reference evaluator, in NumPy, in float16)
    declared = replace(OnnxReferenceBatchNorm.declared, half_precision_range=BeyondRange(outputs="±1", stores="inf"),)

    def runner(self, model: onnx.ModelProto):
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return lambda feeds: session.run(None, feeds)
