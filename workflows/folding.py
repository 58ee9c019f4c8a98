"""Folding a BatchNorm into the layer before it for inference, in every deployment path's own way,
side by side: PyTorch's fusion functions and ``fuse_modules``, TensorFlow Lite's converter on a Keras
model, ONNX Runtime's graph optimizations, onnxoptimizer's and onnx-simplifier's passes. Each builds
the unfolded model (a bias-free dense layer or 1x1 convolution, then a BatchNorm in inference), folds
it, and runs both on the same batch (``suites/folding_checks.py`` says what is compared).
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings

import numpy as np

from .base import Folding, FoldingRun, numpy

# --- PyTorch: torch.nn.utils.fusion's functions, and torch.ao.quantization.fuse_modules


class TorchFusion(Folding):
    dtypes = ("float32", "float16", "bfloat16")
    convolution = False
    #: "fusion" (torch.nn.utils.fusion) or "fuse_modules" (torch.ao.quantization)
    how = "fusion"
    floor = ("import torch\nfrom torch.nn.utils.fusion import fuse_linear_bn_eval\n"
             "fuse_linear_bn_eval(torch.nn.Linear(4, 4).eval(), torch.nn.BatchNorm1d(4).eval())(torch.from_numpy(x))\n")

    def fold(self, weight, statistics, epsilon, batch, dtype):
        import torch

        channels = weight.shape[0]
        if self.convolution:
            previous, layer = torch.nn.Conv2d(channels, channels, 1, bias=False), torch.nn.BatchNorm2d(channels, eps=epsilon)
            weight = weight[:, :, None, None]
        else:
            previous, layer = torch.nn.Linear(channels, channels, bias=False), torch.nn.BatchNorm1d(channels, eps=epsilon)
        with torch.no_grad():
            previous.weight.copy_(torch.from_numpy(weight))
            for name, value in (("running_mean", statistics.mean), ("running_var", statistics.variance),
                                ("weight", statistics.gamma), ("bias", statistics.beta)):
                getattr(layer, name).copy_(torch.from_numpy(value))
        model = torch.nn.Sequential(previous, layer).eval().to(getattr(torch, dtype))
        if self.how == "fusion":
            from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

            fuse = fuse_conv_bn_eval if self.convolution else fuse_linear_bn_eval
            fused = fuse(copy.deepcopy(previous).eval().to(getattr(torch, dtype)), copy.deepcopy(layer).eval().to(getattr(torch, dtype)))
        else:
            fused = torch.ao.quantization.fuse_modules(copy.deepcopy(model), [["0", "1"]])
        x = torch.from_numpy(batch[:, :, None, None] if self.convolution else batch).to(getattr(torch, dtype))
        with torch.no_grad():
            unfolded, output = model(x), fused(x)
        kept = [type(m).__name__ for m in fused.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        return FoldingRun(not kept, numpy(output), numpy(unfolded), f"{type(fused).__name__}" + (f" keeping {kept}" if kept else ""))


class TorchFuseLinear(TorchFusion):
    """``torch.nn.utils.fusion.fuse_linear_bn_eval(linear, bn)``."""

    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "within 1e-2", "worst_case": "variance 100000, epsilon 1e-05, bfloat16"}


class TorchFuseConv(TorchFusion):
    """``torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)``."""

    convolution = True
    floor = ("import torch\nfrom torch.nn.utils.fusion import fuse_conv_bn_eval\n"
             "fuse_conv_bn_eval(torch.nn.Conv2d(4, 4, 1).eval(), torch.nn.BatchNorm2d(4).eval())(torch.from_numpy(x).reshape(8, 4, 1, 1))\n")
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "within 1e-2", "worst_case": "variance 100000, epsilon 1e-05, bfloat16"}


class TorchFuseModules(TorchFusion):
    """``torch.ao.quantization.fuse_modules(model, [["0", "1"]])`` on a Conv2d -> BatchNorm2d in eval mode."""

    convolution = True
    how = "fuse_modules"
    floor = ("import torch\nm = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4)).eval()\n"
             "torch.ao.quantization.fuse_modules(m, [['0', '1']])(torch.from_numpy(x).reshape(8, 4, 1, 1))\n")
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "within 1e-2", "worst_case": "variance 100000, epsilon 1e-05, bfloat16"}


# --- TensorFlow Lite's converter on a Keras model: float32, and float16 weights (its float16
# quantization); bfloat16 is not one of its options


def _tflite_conversion(package: str) -> str:
    """One conversion of a Dense -> BatchNorm model of ``package`` by TFLite's converter, and its interpreter."""
    return (f"import tensorflow as tf, {package} as k\nm = k.Sequential([k.Input((4,)), k.layers.Dense(4), k.layers.BatchNormalization()])\n"
            "tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(m).convert()).allocate_tensors()\n")


class TfliteConverter(Folding):
    dtypes = ("float32", "float16")
    #: "keras" (Keras 3 on TensorFlow) or "tf_keras"
    package = "keras"
    floor = _tflite_conversion(package)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.floor = _tflite_conversion(cls.package)

    def fold(self, weight, statistics, epsilon, batch, dtype):
        import importlib

        import tensorflow as tf

        keras = importlib.import_module(self.package)
        channels = weight.shape[0]
        dense = keras.layers.Dense(channels, use_bias=False)
        layer = keras.layers.BatchNormalization(epsilon=epsilon)
        model = keras.Sequential([keras.Input(shape=(channels,)), dense, layer])
        dense.set_weights([weight.T.astype(np.float32)])
        layer.set_weights([v.astype(np.float32) for v in (statistics.gamma, statistics.beta, statistics.mean, statistics.variance)])
        unfolded = np.asarray(model(batch, training=False))
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if dtype == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        flat = converter.convert()
        with warnings.catch_warnings():  # TF 2.21 still ships tf.lite.Interpreter, which warns of its deletion in 2.20
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
            # the converted graph's own operators: the default interpreter hands them to XNNPACK (one DELEGATE node)
            ops = [op["op_name"] for op in tf.lite.Interpreter(
                model_content=flat, experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )._get_ops_details()]
            interpreter = tf.lite.Interpreter(model_content=flat)
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch)
        interpreter.invoke()
        output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        folded = all(op in ("FULLY_CONNECTED", "DEQUANTIZE") for op in ops)
        return FoldingRun(folded, numpy(output), numpy(unfolded), f"TFLite ops {ops}")


class KerasTflite(TfliteConverter):
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "not offered by the path", "worst_case": "variance 0.0001, epsilon 1e-05, float16"}


class TfKerasTflite(TfliteConverter):
    package = "tf_keras"
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "not offered by the path", "worst_case": "variance 0.0001, epsilon 1e-05, float16"}


# --- ONNX: a Conv (1x1) -> BatchNormalization model; ONNX Runtime folds at session creation, onnxoptimizer's
# fuse_bn_into_conv and onnx-simplifier rewrite the model itself


def _onnx_model(weight, statistics, epsilon, dtype):
    from onnx import TensorProto, helper, numpy_helper

    elements = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}[dtype]
    channels = weight.shape[0]

    def tensor(name, value):
        if dtype == "bfloat16":
            import ml_dtypes

            return numpy_helper.from_array(np.asarray(value, np.float32).astype(ml_dtypes.bfloat16), name)
        with np.errstate(over="ignore"):  # a moving variance of 1e5 is inf in float16: what is measured
            return numpy_helper.from_array(np.asarray(value, np.float32).astype(dtype), name)

    initializers = [tensor("W", weight[:, :, None, None]), tensor("scale", statistics.gamma), tensor("B", statistics.beta),
                    tensor("mean", statistics.mean), tensor("var", statistics.variance)]
    nodes = [helper.make_node("Conv", ["X", "W"], ["H"]),
             helper.make_node("BatchNormalization", ["H", "scale", "B", "mean", "var"], ["Y"], epsilon=epsilon)]
    graph = helper.make_graph(nodes, "folding", [helper.make_tensor_value_info("X", elements, [None, channels, None, None])],
                              [helper.make_tensor_value_info("Y", elements, [None, channels, None, None])], initializers)
    # IR version 8, the one opset 15 needs: onnx-simplifier 0.4.36's checker refuses onnx 1.23's default (14)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)


def _onnxruntime(model, batch, dtype, optimize: bool, saved: str | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = (onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if saved:
        options.optimized_model_filepath = saved
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = batch.astype(dtype) if dtype != "bfloat16" else batch
    return session.run(None, {"X": x})[0]


class OnnxFolding(Folding):
    dtypes = ("float32", "float16")
    #: "onnxruntime", "onnxoptimizer" or "onnxsim"
    how = "onnxruntime"

    def fold(self, weight, statistics, epsilon, batch, dtype):
        import onnx

        model = _onnx_model(weight, statistics, epsilon, dtype)
        x = batch[:, :, None, None]
        unfolded = _onnxruntime(model, x, dtype, optimize=False)
        with tempfile.TemporaryDirectory() as folder:
            if self.how == "onnxruntime":
                saved = os.path.join(folder, "optimized.onnx")
                output = _onnxruntime(model, x, dtype, optimize=True, saved=saved)
                rewritten = onnx.load(saved)
            else:
                if self.how == "onnxoptimizer":
                    import onnxoptimizer

                    rewritten = onnxoptimizer.optimize(model, ["fuse_bn_into_conv"])
                else:
                    import onnxsim

                    rewritten, valid = onnxsim.simplify(model)
                output = _onnxruntime(rewritten, x, dtype, optimize=False)
        ops = [node.op_type for node in rewritten.graph.node]
        return FoldingRun("BatchNormalization" not in ops, numpy(output), numpy(unfolded), f"nodes {ops}")


class OnnxRuntimeFolding(OnnxFolding):
    """ONNX Runtime's graph optimizations (``ORT_ENABLE_ALL``) at session creation, the optimized model saved."""

    floor = ("import onnxruntime\nfrom onnx import TensorProto, helper, numpy_helper\n"
             "i = [numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), 'W')] + [numpy_helper.from_array(np.ones(4, np.float32), n) "
             "for n in ('s', 'b', 'm', 'v')]\n"
             "n = [helper.make_node('Conv', ['X', 'W'], ['H']), helper.make_node('BatchNormalization', ['H', 's', 'b', 'm', 'v'], ['Y'])]\n"
             "g = helper.make_graph(n, 'f', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [8, 4, 1, 1])], "
             "[helper.make_tensor_value_info('Y', TensorProto.FLOAT, [8, 4, 1, 1])], i)\n"
             "m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 15)], ir_version=8)\n"
             "onnxruntime.InferenceSession(m.SerializeToString()).run(None, {'X': x.reshape(8, 4, 1, 1)})\n")
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "not offered by the path", "worst_case": "variance 0.0001, epsilon 1e-05, float16"}


class OnnxOptimizerFolding(OnnxFolding):
    """onnxoptimizer's ``fuse_bn_into_conv`` pass, the result run by ONNX Runtime without its own optimizations."""

    how = "onnxoptimizer"
    floor = OnnxRuntimeFolding.floor + "import onnxoptimizer\nonnxoptimizer.optimize(m, ['fuse_bn_into_conv'])\n"
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-5",
                "bfloat16": "not offered by the path", "worst_case": "variance 1e-08, epsilon 1e-05, float32"}


class OnnxSimFolding(OnnxFolding):
    """onnx-simplifier's ``simplify``, the result run by ONNX Runtime without its own optimizations."""

    how = "onnxsim"
    floor = OnnxRuntimeFolding.floor + "import onnxsim\nonnxsim.simplify(m)\n"
    declared = {"folded": "folded", "float32": "within 1e-5", "float16": "within 1e-2",
                "bfloat16": "not offered by the path", "worst_case": "variance 0.0001, epsilon 1e-05, float16"}
