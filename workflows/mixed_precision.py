"""Mixed precision as users turn it on, in every framework's own way, side by side: a float32 model
under the framework's policy (PyTorch's autocast, Keras's mixed policies, Flax's and Equinox's dtype,
Haiku's jmp policies, Paddle's auto_cast), or, where a framework has no policy, a half-precision
batch handed to a float32 layer (MLX, tinygrad, ONNX). ``suites/mixed_precision_checks.py`` says
what is measured from what each returns.

Where the policy acts on a model, the BatchNorm follows a float32 dense layer initialized to the
identity, so the BatchNorm receives the batch as the policy computed it.
"""

from __future__ import annotations

import importlib

import numpy as np

from adapters.rows import MIXED_PRECISION

from .base import MixedPrecision, PrecisionRun, dtype_name, numpy

# --- PyTorch: torch.autocast("cpu") runs a Linear in its dtype; batch_norm is not on its list of
# operations to cast, so the BatchNorm runs in whatever dtype reaches it


class TorchAutocast(MixedPrecision):
    half = "bfloat16"
    floor = ("import torch\nm = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))\n"
             "with torch.autocast('cpu', dtype=torch.bfloat16):\n    m(torch.from_numpy(x))\n")
    after_linear = False

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import torch

        channels = batches[0].shape[1]
        layer = torch.nn.BatchNorm1d(channels, momentum=1.0 - decay, eps=epsilon)
        modules = [layer]
        if self.after_linear:
            linear = torch.nn.Linear(channels, channels)
            with torch.no_grad():
                linear.weight.copy_(torch.eye(channels))
                linear.bias.zero_()
            modules.insert(0, linear)
        model = torch.nn.Sequential(*modules).train()
        with torch.no_grad():
            for batch in batches:
                with torch.autocast("cpu", dtype=getattr(torch, self.half)):
                    output = model(torch.from_numpy(batch).to(getattr(torch, input_dtype)))
        return PrecisionRun(dtype_name(output), dtype_name(layer.running_var), numpy(layer.running_mean), numpy(layer.running_var))


class TorchAutocastBfloat16(TorchAutocast):
    """``torch.autocast("cpu", dtype=torch.bfloat16)`` around the BatchNorm alone: nothing changes."""

    declared = {"output_dtype": "float32", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-5",
                "large_mean_error": "within 1e-5", "half_input": "output bfloat16, moving statistics float32"}


class TorchAutocastBfloat16AfterLinear(TorchAutocast):
    """Around a float32 ``Linear -> BatchNorm1d``: the Linear's bfloat16 output reaches the BatchNorm."""

    after_linear = True
    declared = {"output_dtype": "bfloat16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output bfloat16, moving statistics float32"}


class TorchAutocastFloat16AfterLinear(TorchAutocast):
    half = "float16"
    after_linear = True
    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "within 1e-2", "half_input": "output float16, moving statistics float32"}


# --- Keras (3 on each backend, and tf_keras): a global dtype policy, set as the mixed-precision guide
# sets it and restored after; the BatchNorm's variables stay float32


def _keras_policy_step(package: str) -> str:
    return (f"import {package} as k\nk.mixed_precision.set_global_policy('mixed_float16')\n"
            "k.layers.BatchNormalization()(x, training=True)\nk.mixed_precision.set_global_policy('float32')\n")


class KerasPolicy(MixedPrecision):
    package = "keras"
    policy = "mixed_float16"
    floor = _keras_policy_step(package)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.floor = _keras_policy_step(cls.package)

    @property
    def half(self) -> str:
        return self.policy.removeprefix("mixed_")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        keras = importlib.import_module(self.package)
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.policy)
        try:
            layer = keras.layers.BatchNormalization(momentum=decay, epsilon=epsilon)
            cast = keras.ops.cast if self.package == "keras" else keras.backend.cast
            for batch in batches:
                output = layer(cast(batch, input_dtype), training=True)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        mean, variance = (np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in (layer.moving_mean, layer.moving_variance))
        return PrecisionRun(dtype_name(output), dtype_name(layer.moving_variance), numpy(mean), numpy(variance))


class KerasMixedFloat16(KerasPolicy):
    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "within 1e-2", "half_input": "output float16, moving statistics float32"}


class KerasMixedBfloat16(KerasPolicy):
    policy = "mixed_bfloat16"
    declared = {"output_dtype": "bfloat16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output bfloat16, moving statistics float32"}


class TfKerasMixedFloat16(KerasMixedFloat16):
    package = "tf_keras"


class TfKerasMixedBfloat16(KerasMixedBfloat16):
    package = "tf_keras"


# --- JAX: Flax and Equinox take a dtype per layer; Haiku takes jmp policies per module class


class FlaxLinenDtype(MixedPrecision):
    """``nn.BatchNorm(dtype=float16, param_dtype=float32)``."""

    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-5",
                "large_mean_error": "within 1e-2", "half_input": "output float16, moving statistics float32"}

    floor = ("import jax, jax.numpy as jnp, flax.linen as nn\nlayer = nn.BatchNorm(use_running_average=False, dtype=jnp.float16)\n"
             "layer.apply(layer.init(jax.random.key(0), x), x, mutable=['batch_stats'])\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import flax.linen as nn
        import jax
        import jax.numpy as jnp

        layer = nn.BatchNorm(use_running_average=False, momentum=decay, epsilon=epsilon, dtype=jnp.float16, param_dtype=jnp.float32)
        variables = layer.init(jax.random.key(0), jnp.asarray(batches[0], input_dtype))
        for batch in batches:
            output, updates = layer.apply(variables, jnp.asarray(batch, input_dtype), mutable=["batch_stats"])
            variables = {**variables, **updates}
        stats = variables["batch_stats"]
        return PrecisionRun(dtype_name(output), dtype_name(stats["var"]), numpy(stats["mean"]), numpy(stats["var"]))


class FlaxNnxDtype(MixedPrecision):
    """``nnx.BatchNorm(dtype=float16, param_dtype=float32)``."""

    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output float16, moving statistics float32"}

    floor = ("import jax.numpy as jnp\nfrom flax import nnx\nnnx.BatchNorm(4, dtype=jnp.float16, rngs=nnx.Rngs(0))(x)\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import jax.numpy as jnp
        from flax import nnx

        layer = nnx.BatchNorm(batches[0].shape[1], momentum=decay, epsilon=epsilon, dtype=jnp.float16, param_dtype=jnp.float32,
                              rngs=nnx.Rngs(0))
        layer.train()
        for batch in batches:
            output = layer(jnp.asarray(batch, input_dtype))
        return PrecisionRun(dtype_name(output), dtype_name(layer.var[...]), numpy(layer.mean[...]), numpy(layer.var[...]))


class HaikuJmp(MixedPrecision):
    """A jmp policy for ``hk.Linear`` (params float32, compute and output float16) and, for the
    BatchNorm, the same policy or the one Haiku's documentation recommends: compute in float32."""

    batchnorm_policy = "params=float32,compute=float16,output=float16"

    floor = ("import jax, jmp, haiku as hk\nhk.mixed_precision.set_policy(hk.BatchNorm, jmp.get_policy('params=float32,compute=float16,output=float16'))\n"
             "f = hk.transform_with_state(lambda v: hk.BatchNorm(True, True, 0.9)(v, is_training=True))\n"
             "p, s = f.init(jax.random.key(0), x)\nf.apply(p, s, None, x)\nhk.mixed_precision.clear_policy(hk.BatchNorm)\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import haiku as hk
        import jax
        import jax.numpy as jnp
        import jmp

        channels = batches[0].shape[1]

        def forward(x):
            x = hk.Linear(channels, w_init=hk.initializers.Identity(), b_init=jnp.zeros)(x)
            return hk.BatchNorm(True, True, decay, eps=epsilon)(x, is_training=True)

        hk.mixed_precision.set_policy(hk.Linear, jmp.get_policy("params=float32,compute=float16,output=float16"))
        hk.mixed_precision.set_policy(hk.BatchNorm, jmp.get_policy(self.batchnorm_policy))
        try:
            transformed = hk.transform_with_state(forward)
            params, state = transformed.init(jax.random.key(0), jnp.asarray(batches[0], input_dtype))
            for batch in batches:
                output, state = transformed.apply(params, state, None, jnp.asarray(batch, input_dtype))
        finally:
            hk.mixed_precision.clear_policy(hk.Linear)
            hk.mixed_precision.clear_policy(hk.BatchNorm)
        mean, variance = state["batch_norm/~/mean_ema"]["average"], state["batch_norm/~/var_ema"]["average"]
        return PrecisionRun(dtype_name(output), dtype_name(variance), numpy(mean), numpy(variance))


class HaikuJmpFloat16(HaikuJmp):
    declared = {"output_dtype": "float16", "moving_dtype": "float16",
                "computed_in": "float16: overflows to inf", "ordinary_error": "within 1e-2",
                "large_mean_error": "not finite", "half_input": "output float16, moving statistics float16"}


class HaikuJmpBatchNormFloat32(HaikuJmp):
    batchnorm_policy = "params=float32,compute=float32,output=float16"
    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output float16, moving statistics float32"}


class EquinoxDtype(MixedPrecision):
    """``eqx.nn.BatchNorm(dtype=float16)``: the dtype of its state and of gamma and beta. A float32 batch
    computes float32 statistics, which the float16 state refuses to take; a float16 batch trains."""

    declared = {**MIXED_PRECISION.every_row("cannot run (ValueError: Old and new values have different structures/shapes/dtypes. "
                                            "The old value is (f16[2], f16[2]) and the new value is (f32[2], f32[2]).)"),
                "half_input": "output float16, moving statistics float16"}

    floor = ("import jax, jax.numpy as jnp, equinox as eqx\nm, s = eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, 'batch', dtype=jnp.float16, mode='ema')\n"
             "jax.vmap(m, axis_name='batch', in_axes=(0, None), out_axes=(0, None))(x.astype('float16'), s)\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        layer, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(batches[0].shape[1], "batch", eps=epsilon, momentum=decay,
                                                                 dtype=jnp.float16, mode="ema")
        for batch in batches:
            output, state = jax.vmap(layer, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(jnp.asarray(batch, input_dtype), state)
        mean, variance = state.get(layer.ema_state_index)
        return PrecisionRun(dtype_name(output), dtype_name(variance), numpy(mean), numpy(variance))


# --- Paddle: paddle.amp.auto_cast, O1, around a Linear -> BatchNorm1D


class PaddleAutoCast(MixedPrecision):
    """``paddle.amp.auto_cast(level="O1", dtype="bfloat16")`` on Paddle's CPU build: the Linear stays
    float32, so nothing changes; a bfloat16 batch into the float32 layers is refused."""

    half = "bfloat16"
    declared = {"output_dtype": "float32", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-5",
                "large_mean_error": "within 1e-5",
                "half_input": "refuses (ValueError: (InvalidArgument) The type of data we are trying to retrieve (float32) does not "
                              "match the type of data (bfloat16) currently contained in the container.)"}

    floor = ("import paddle\nm = paddle.nn.Sequential(paddle.nn.Linear(4, 4), paddle.nn.BatchNorm1D(4))\n"
             "with paddle.amp.auto_cast(level='O1', dtype='bfloat16'):\n    m(paddle.to_tensor(x))\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import paddle

        channels = batches[0].shape[1]
        linear = paddle.nn.Linear(channels, channels)
        linear.weight.set_value(np.eye(channels, dtype=np.float32))
        linear.bias.set_value(np.zeros(channels, np.float32))
        layer = paddle.nn.BatchNorm1D(channels, momentum=decay, epsilon=epsilon)
        model = paddle.nn.Sequential(linear, layer)
        model.train()
        with paddle.no_grad():
            for batch in batches:
                with paddle.amp.auto_cast(level="O1", dtype=self.half):
                    output = model(paddle.to_tensor(batch).astype(input_dtype))
        return PrecisionRun(dtype_name(output), dtype_name(layer._variance), numpy(layer._mean.numpy()), numpy(layer._variance.numpy()))


# --- No policy: a half-precision batch handed to a float32 layer


class MlxHalfInput(MixedPrecision):
    declared = {"output_dtype": "float32", "moving_dtype": "float32",
                "computed_in": "float16: overflows to inf", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output float32, moving statistics float32"}

    floor = "import mlx.core as mx, mlx.nn\nmx.eval(mlx.nn.BatchNorm(4)(mx.array(x).astype(mx.float16)))\n"

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        import mlx.core as mx
        import mlx.nn

        layer = mlx.nn.BatchNorm(batches[0].shape[1], eps=epsilon, momentum=1.0 - decay)
        layer.train()
        for batch in batches:
            output = layer(mx.array(batch).astype(mx.float16))
            mx.eval(output, layer.running_mean, layer.running_var)
        return PrecisionRun(dtype_name(output), dtype_name(layer.running_var), numpy(np.array(layer.running_mean)),
                            numpy(np.array(layer.running_var)))


class TinygradHalfInput(MixedPrecision):
    declared = {"output_dtype": "float32", "moving_dtype": "float32",
                "computed_in": "rounded to float16", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output float32, moving statistics float32"}

    floor = ("from tinygrad import Tensor, dtypes, nn\nfrom tinygrad.helpers import Context\nwith Context(TRAINING=1):\n"
             "    nn.BatchNorm(4)(Tensor(x).cast(dtypes.half)).realize()\n")

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        from tinygrad import Tensor, dtypes, nn
        from tinygrad.helpers import Context

        layer = nn.BatchNorm(batches[0].shape[1], eps=epsilon, momentum=1.0 - decay)
        with Context(TRAINING=1):
            for batch in batches:
                output = layer(Tensor(batch).cast(dtypes.half)).realize()
                Tensor.realize(layer.running_mean, layer.running_var)
        names = {"float": "float32", "half": "float16"}  # tinygrad's names of its dtypes
        return PrecisionRun(names.get(output.dtype.name, output.dtype.name), names.get(layer.running_var.dtype.name, "other"),
                            numpy(layer.running_mean.numpy()), numpy(layer.running_var.numpy()))


def _onnx_half_step(run: str) -> str:
    return ("from onnx import TensorProto, helper\nnames = ['X', 'scale', 'B', 'mean', 'var']\n"
            "inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT16 if n == 'X' else TensorProto.FLOAT, [8, 4] if n == 'X' else [4])"
            " for n in names]\n"
            "outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT16 if n == 'Y' else TensorProto.FLOAT, None) for n in ('Y', 'm', 'v')]\n"
            "node = helper.make_node('BatchNormalization', names, ['Y', 'm', 'v'], training_mode=1)\n"
            "model = helper.make_model(helper.make_graph([node], 'bn', inputs, outputs), opset_imports=[helper.make_opsetid('', 15)])\n"
            "ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)\n"
            "feeds = dict(zip(names, [x.astype(np.float16), ones, zeros, zeros, ones]))\n" + run)


class OnnxHalfInput(MixedPrecision):
    """A one-node training-mode ``BatchNormalization`` (opset 15) with a float16 X and float32 scale,
    B, mean and var, as opset 15 allows; the moving statistics fed back each step."""

    #: "reference" (onnx.reference) or "onnxruntime"
    runner = "reference"

    def train(self, batches, decay, epsilon, input_dtype="float32"):
        from onnx import TensorProto, helper

        channels = batches[0].shape[1]
        names = ["X", "scale", "B", "input_mean", "input_var"]
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT16 if n == "X" else TensorProto.FLOAT,
                                                [None, channels] if n == "X" else [channels]) for n in names]
        outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None),
                   *(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("running_mean", "running_var"))]
        node = helper.make_node("BatchNormalization", names, ["Y", "running_mean", "running_var"], epsilon=epsilon,
                                momentum=decay, training_mode=1)
        model = helper.make_model(helper.make_graph([node], "bn", inputs, outputs), opset_imports=[helper.make_opsetid("", 15)])
        if self.runner == "reference":
            from onnx.reference import ReferenceEvaluator

            session = ReferenceEvaluator(model)
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        mean, variance = np.zeros(channels, np.float32), np.ones(channels, np.float32)
        ones, zeros = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # the evaluator's float16 squares overflow: what is measured
            for batch in batches:
                output, mean, variance = session.run(None, dict(zip(names, [batch.astype(np.float16), ones, zeros, mean, variance])))
        return PrecisionRun(dtype_name(output), dtype_name(variance), numpy(mean), numpy(variance))


class OnnxReferenceHalfInput(OnnxHalfInput):
    floor = _onnx_half_step("from onnx.reference import ReferenceEvaluator\nReferenceEvaluator(model).run(None, feeds)\n")
    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float16: overflows to inf", "ordinary_error": "within 1e-2",
                "large_mean_error": "off by more than 1e-2", "half_input": "output float16, moving statistics float32"}


class OnnxRuntimeHalfInput(OnnxHalfInput):
    runner = "onnxruntime"
    floor = _onnx_half_step("import onnxruntime\nonnxruntime.InferenceSession(model.SerializeToString()).run(None, feeds)\n")
    declared = {"output_dtype": "float16", "moving_dtype": "float32",
                "computed_in": "float32", "ordinary_error": "within 1e-2",
                "large_mean_error": "within 1e-2", "half_input": "output float16, moving statistics float32"}
