"""The floors the suites are measured against: import a family's frameworks, one BatchNorm step in each layer.

    python bench/floor.py                  # every family (the full suite's floor)
    python bench/floor.py tensorflow jax   # only these families

Nothing of bnparity is imported: this is what any check of these implementations must pay at
least. What needs a process-wide switch runs in an interpreter of its own, as it must, started
first so that it overlaps with the rest, as the suite's worker processes may: TensorFlow 1's
graph-mode layer (``TF_USE_LEGACY_KERAS=1``, eager execution off) for the tensorflow family,
Keras 3 on JAX for the jax family, Keras 3 on PyTorch for the torch family, Paddle, whose
import crashes an interpreter that imported TensorFlow, and the conversion paths (``converters``:
one export with each of torch.onnx's exporters and with Keras 3's ONNX export, onnx2torch's
import, and onnx2tf's conversion of one node by the interpreter of its environment of its own),
which the suite runs in workers of their own, and the data-parallel runs' set-ups
(``parallel``: Flax under ``pmap`` on two JAX devices, Keras under ``MirroredStrategy`` on two logical
TensorFlow devices, two spawned gloo ranks of PyTorch DDP), each one step.
"""

import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

FAMILIES = ("tensorflow", "torch", "jax", "onnx", "paddle", "mlx", "tinygrad", "converters", "parallel")
x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")

TF1 = (
    "import numpy as np, tensorflow as tf\n"
    "tf.compat.v1.disable_eager_execution()\n"
    "x = tf.compat.v1.placeholder(tf.float32, [None, 4])\n"
    "y = tf.compat.v1.layers.batch_normalization(x, training=True)\n"
    "with tf.compat.v1.Session() as s:\n"
    "    s.run(tf.compat.v1.global_variables_initializer())\n"
    "    s.run([y] + tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS), {x: np.ones((8, 4))})\n"
)

KERAS3 = (
    "import numpy as np, keras\n"
    "keras.layers.BatchNormalization()(np.ones((8, 4), 'float32'), training=True)\n"
)
PADDLE = (
    "import numpy as np, paddle\n"
    "x = paddle.to_tensor(np.ones((8, 4), 'float32'))\n"
    "paddle.nn.BatchNorm1D(4)(x)\n"
    "paddle.nn.BatchNorm2D(4)(x.reshape([8, 4, 1, 1]))\n"
)
CONVERTERS = (
    "import io, os, tempfile, torch, onnx, keras\n"
    "model = torch.nn.Sequential(torch.nn.BatchNorm1d(4)).eval()\n"
    "torch.onnx.export(model, (torch.ones(8, 4),), verbose=False)\n"
    "torch.onnx.export(model, (torch.ones(8, 4),), io.BytesIO(), dynamo=False)\n"
    "source = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])\n"
    "source(torch.ones(8, 4).numpy())\n"
    "with tempfile.TemporaryDirectory() as folder:\n"
    "    source.export(os.path.join(folder, 'model.onnx'), format='onnx', verbose=False)\n"
    "try:\n    import onnx2torch\n"
    "except Exception:\n    pass\n"
)
PMAP = (
    "import jax, numpy as np, flax.linen as nn\n"
    "layer = nn.BatchNorm(use_running_average=False, axis_name='replicas')\n"
    "variables = nn.BatchNorm(use_running_average=False).init(jax.random.key(0), np.ones((4, 4), 'float32'))\n"
    "replicated = jax.tree_util.tree_map(lambda leaf: np.stack([leaf] * 2), variables)\n"
    "step = jax.pmap(lambda v, b: layer.apply(v, b, mutable=['batch_stats']), axis_name='replicas')\n"
    "jax.block_until_ready(step(replicated, np.ones((2, 4, 4), 'float32')))\n"
)
MIRRORED = (
    "import numpy as np, tensorflow as tf, keras\n"
    "cpu = tf.config.list_physical_devices('CPU')[0]\n"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])\n"
    "with strategy.scope():\n"
    "    layer = keras.layers.BatchNormalization(synchronized=True)\n"
    "    layer.build((None, 4))\n"
    "step = tf.function(lambda v: strategy.run(lambda b: layer(b, training=True), args=(v,)))\n"
    "step(strategy.experimental_distribute_values_from_function(lambda c: tf.ones((4, 4))))\n"
)
#: forked ranks, the least two ranks cost (the suite spawns them, as PyTorch's guides do, and pays their imports)
DDP = (
    "import os, tempfile, torch, torch.distributed as dist, torch.multiprocessing as mp\n"
    "def rank(r, init):\n"
    "    dist.init_process_group('gloo', init_method=init, rank=r, world_size=2)\n"
    "    torch.nn.parallel.DistributedDataParallel(torch.nn.BatchNorm1d(4))(torch.ones(4, 4))\n"
    "    dist.destroy_process_group()\n"
    "if __name__ == '__main__':\n"
    "    with tempfile.TemporaryDirectory() as folder:\n"
    "        mp.start_processes(rank, nprocs=2, args=(f'file://{folder}/rendezvous',), start_method='fork')\n"
)
#: onnx2tf, in its environment of its own (environments/onnx2tf.txt): one BatchNormalization node converted
ONNX2TF = (
    "import os, tempfile, numpy as np, onnx, onnx2tf\n"
    "from onnx import TensorProto, helper, numpy_helper\n"
    "tensors = [numpy_helper.from_array(np.full(4, v, np.float32), n) for n, v in (('s', 1), ('b', 0), ('m', 0), ('v', 1))]\n"
    "node = helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'])\n"
    "graph = helper.make_graph([node], 'bn', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [8, 4])],\n"
    "                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [8, 4])], tensors)\n"
    "model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 15)])\n"
    "with tempfile.TemporaryDirectory() as folder:\n"
    "    onnx2tf.convert(onnx_graph=model, output_folder_path=folder, non_verbose=True)(np.ones((8, 4), np.float32))\n"
)
#: The interpreter of onnx2tf's environment, where .ci/run builds it (adapters.registry.ENVIRONMENTS; named
#: here because the floor imports nothing of bnparity).
ONNX2TF_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-onnx2tf", "bin", "python")
#: family -> (environment, code[, interpreter]) of the interpreters it starts (Paddle's import crashes after TensorFlow's)
OWN_PROCESS = {
    "converters": [({}, CONVERTERS), ({"TF_CPP_MIN_LOG_LEVEL": "3"}, ONNX2TF, ONNX2TF_PYTHON)],
    # the data-parallel runs' set-ups: two JAX devices, two logical TensorFlow devices, two gloo ranks
    "parallel": [({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, PMAP), ({}, MIRRORED), ({}, DDP)],
    "paddle": [({}, PADDLE)],
    "tensorflow": [({"TF_USE_LEGACY_KERAS": "1"}, TF1)],
    "jax": [({"KERAS_BACKEND": "jax"}, KERAS3)],
    "torch": [({"KERAS_BACKEND": "torch"}, KERAS3)],
}


def tensorflow() -> None:
    import keras
    import sonnet as snt
    import tf_keras

    keras.layers.BatchNormalization()(x, training=True)
    snt.BatchNorm(True, True)(x, is_training=True)
    tf_keras.layers.BatchNormalization(fused=False)(x, training=True)
    tf_keras.layers.BatchNormalization(fused=True)(x.reshape(8, 1, 1, 4), training=True)


def torch() -> None:
    import torch

    torch.nn.BatchNorm1d(4)(torch.from_numpy(x))
    torch.nn.BatchNorm2d(4)(torch.from_numpy(x).reshape(8, 4, 1, 1))


def jax() -> None:
    import equinox as eqx
    import flax.linen as nn
    import haiku as hk
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jax.jit(lambda v: (v - v.mean(0)) / jnp.sqrt(v.var(0) + 1e-3))(x).block_until_ready()
    variables = nn.BatchNorm().init(jax.random.key(0), x, use_running_average=False)
    nn.BatchNorm().apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    nnx.BatchNorm(4, rngs=nnx.Rngs(0))(x)
    forward = hk.transform_with_state(lambda v: hk.BatchNorm(True, True, 0.9)(v, True))
    params, state = forward.init(jax.random.key(0), x)
    forward.apply(params, state, None, x)
    for mode in ("ema", "batch"):
        layer, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, "batch", mode=mode)
        jax.vmap(lambda v, s: layer(v, s), axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)


def onnx() -> None:
    import onnxruntime
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = ["X", "scale", "B", "mean", "var"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [8, 4] if n == "X" else [4]) for n in names]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "running_mean", "running_var")]
    node = helper.make_node("BatchNormalization", names, ["Y", "running_mean", "running_var"], training_mode=1)
    model = helper.make_model(helper.make_graph([node], "bn", inputs, outputs), opset_imports=[helper.make_opsetid("", 15)])
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    feeds = dict(zip(names, [x, ones, zeros, zeros, ones]))
    onnxruntime.InferenceSession(model.SerializeToString()).run(None, feeds)
    ReferenceEvaluator(model).run(None, feeds)


def mlx() -> None:
    import mlx.core as mx
    import mlx.nn

    mx.eval(mlx.nn.BatchNorm(4)(mx.array(x)))


def tinygrad() -> None:
    from tinygrad import Tensor, TinyJit, nn
    from tinygrad.helpers import Context

    layer = nn.BatchNorm(4)
    with Context(TRAINING=1):
        TinyJit(lambda v: layer(v).realize())(Tensor(x).realize()).numpy()


def start(env: dict, code: str, python: str = sys.executable) -> subprocess.Popen | None:
    """``code`` run by ``python``, started now; None where that interpreter's environment is not built
    (the suite skips what needs it too)."""
    if not os.access(python, os.X_OK):
        print(f"floor: {python} is not built, left out", file=sys.stderr)
        return None
    return subprocess.Popen([python, "-c", code], env=dict(os.environ, **env), stderr=subprocess.DEVNULL)


def main(families: list[str]) -> int:
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise SystemExit(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    own = [start(*entry) for family in families for entry in OWN_PROCESS.get(family, ())]
    own = [process for process in own if process is not None]
    for family in families:
        if family in globals():
            globals()[family]()
    return max([process.wait() for process in own], default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(FAMILIES)))
