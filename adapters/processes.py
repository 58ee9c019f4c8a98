"""The processes bnparity starts besides the test process: the kinds of worker process
(``adapters/worker.py``) and the environments of their own some of them run in. Below both the
registry, which names a worker kind per implementation, and the worker, which starts them.
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import os
from dataclasses import dataclass, field

from .imports import KERAS_UNUSED, TENSORFLOW_KERAS_UNUSED

#: The repository's root: where bnparity's modules and its environments of their own (ENVIRONMENTS) are.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Environment:
    """A virtual environment of its own, beside bnparity's, for a package whose exact pins conflict with
    the frameworks bnparity pins (onnx2tf pins an older TensorFlow, ONNX and NumPy). ``.ci/run`` builds
    it in the repository from its requirements file; a worker kind that names it runs its interpreter.

    directory: the environment, relative to the repository root.
    requirements: its pinned requirements, relative to the repository root.
    """

    directory: str
    requirements: str

    @property
    def python(self) -> str:
        return os.path.join(ROOT, self.directory, "bin", "python")

    def built(self) -> bool:
        return os.access(self.python, os.X_OK)

    def how_to_build(self) -> str:
        return f"python3 -m venv {self.directory} && {self.directory}/bin/pip install -r {self.requirements}"

    @functools.cache  # noqa: B019 (the environments are module-level constants: nothing leaks)
    def version(self, distribution: str) -> str:
        """``distribution``'s version in this environment, read once per process from its package metadata
        (nothing is imported), as ``installed_version`` reads bnparity's own."""
        found = next(iter(importlib.metadata.distributions(
            name=distribution, path=glob.glob(os.path.join(ROOT, self.directory, "lib", "python*", "site-packages")))), None)
        return found.version if found is not None else "not installed"


ENVIRONMENTS = {"onnx2tf": Environment(".venv-onnx2tf", "environments/onnx2tf.txt")}


@dataclass(frozen=True)
class WorkerKind:
    """A worker process for implementations that need a process-wide switch (``adapters.worker``).

    env: what the worker's environment sets before anything is imported there (``XLA_FLAGS`` is added
        to the run's own, ``suites/scheduling.py``).
    imports: what the worker imports as soon as it starts, before its first request, so that the
        framework import overlaps the test process's work when the worker is started early.
    hidden: installed packages the worker's framework would import and never use, made
        unimportable there (an ImportError, as where they are not installed).
    environment: the environment of its own (one of ENVIRONMENTS) whose interpreter the worker runs,
        or None for the test process's.
    floor: see the attribute.
    """

    env: dict[str, str] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    environment: str | None = None
    #: For a kind that runs a section's columns (conversion paths, data-parallel runs): the least one of
    #: its columns pays there, as code ``bench/floor.py`` runs with the kind's environment (``x``: an (8, 4)
    #: float32 array). An implementation's kind runs its implementations' floors instead.
    floor: str = ""


#: One export with each of torch.onnx's exporters and with Keras 3's ONNX export, and onnx2torch's import.
CONVERTERS_FLOOR = (
    "import io, os, tempfile, torch, onnx, keras\n"
    "model = torch.nn.Sequential(torch.nn.BatchNorm1d(4)).eval()\n"
    "torch.onnx.export(model, (torch.ones(8, 4),), verbose=False)\n"
    "torch.onnx.export(model, (torch.ones(8, 4),), io.BytesIO(), dynamo=False)\n"
    "source = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])\n"
    "source(x)\n"
    "with tempfile.TemporaryDirectory() as folder:\n"
    "    source.export(os.path.join(folder, 'model.onnx'), format='onnx', verbose=False)\n"
    "try:\n    import onnx2torch\n"
    "except Exception:\n    pass\n"
)
#: onnx2tf's conversion of one BatchNormalization node, in its environment of its own.
ONNX2TF_FLOOR = (
    "import tempfile, onnx, onnx2tf\n"
    "from onnx import TensorProto, helper, numpy_helper\n"
    "tensors = [numpy_helper.from_array(np.full(4, v, np.float32), n) for n, v in (('s', 1), ('b', 0), ('m', 0), ('v', 1))]\n"
    "node = helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'])\n"
    "graph = helper.make_graph([node], 'bn', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [8, 4])],\n"
    "                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [8, 4])], tensors)\n"
    "model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 15)])\n"
    "with tempfile.TemporaryDirectory() as folder:\n"
    "    onnx2tf.convert(onnx_graph=model, output_folder_path=folder, non_verbose=True)(x)\n"
)
#: Flax under pmap on two JAX devices, one step.
PMAP_FLOOR = (
    "import jax, flax.linen as nn\n"
    "layer = nn.BatchNorm(use_running_average=False, axis_name='replicas')\n"
    "variables = nn.BatchNorm(use_running_average=False).init(jax.random.key(0), np.ones((4, 4), 'float32'))\n"
    "replicated = jax.tree_util.tree_map(lambda leaf: np.stack([leaf] * 2), variables)\n"
    "step = jax.pmap(lambda v, b: layer.apply(v, b, mutable=['batch_stats']), axis_name='replicas')\n"
    "jax.block_until_ready(step(replicated, np.ones((2, 4, 4), 'float32')))\n"
)
#: Keras under MirroredStrategy on two logical TensorFlow devices, one step.
MIRRORED_FLOOR = (
    "import tensorflow as tf, keras\n"
    "cpu = tf.config.list_physical_devices('CPU')[0]\n"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])\n"
    "with strategy.scope():\n"
    "    layer = keras.layers.BatchNormalization(synchronized=True)\n"
    "    layer.build((None, 4))\n"
    "step = tf.function(lambda v: strategy.run(lambda b: layer(b, training=True), args=(v,)))\n"
    "step(strategy.experimental_distribute_values_from_function(lambda c: tf.ones((4, 4))))\n"
)
#: Two spawned gloo ranks of PyTorch DDP, one step each: forked, the least two ranks cost.
DDP_FLOOR = (
    "import tempfile, torch, torch.distributed as dist, torch.multiprocessing as mp\n"
    "def rank(r, init):\n"
    "    dist.init_process_group('gloo', init_method=init, rank=r, world_size=2)\n"
    "    torch.nn.parallel.DistributedDataParallel(torch.nn.BatchNorm1d(4))(torch.ones(4, 4))\n"
    "    dist.destroy_process_group()\n"
    "if __name__ == '__main__':\n"
    "    with tempfile.TemporaryDirectory() as folder:\n"
    "        mp.start_processes(rank, nprocs=2, args=(f'file://{folder}/rendezvous',), start_method='fork')\n"
)
WORKERS = {
    # TensorFlow 1's layers: the legacy Keras behind tf.compat.v1.layers, then graph mode (adapters/keras/tf1.py)
    "tensorflow1": WorkerKind({"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("tensorflow", "tf_keras"),
                              hidden=TENSORFLOW_KERAS_UNUSED),
    # Keras 3 reads its backend once, at import
    "keras-jax": WorkerKind({"KERAS_BACKEND": "jax"}, ("keras",), hidden=KERAS_UNUSED),
    # Keras 3.15 imports JAX wherever it is installed, for its Orbax checkpoint callback alone
    # (keras/src/callbacks/orbax_checkpoint.py): hidden in a worker that never calls it (adapters/imports.py)
    "keras-torch": WorkerKind({"KERAS_BACKEND": "torch"}, ("keras",), hidden=("jax", *KERAS_UNUSED)),
    # importing Paddle after TensorFlow crashes the interpreter (adapters/paddle/nn.py)
    "paddle": WorkerKind({"GLOG_minloglevel": "2"}, ("paddle",)),
    # conversion paths import their source and target together (converters/), which a family's
    # selection must not bring into the test process
    "converters": WorkerKind({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("torch", "onnx"),
                             hidden=TENSORFLOW_KERAS_UNUSED, floor=CONVERTERS_FLOOR),
    # data-parallel JAX: two CPU devices, which XLA reads once, when JAX starts
    "jax-replicas": WorkerKind({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, ("jax",), floor=PMAP_FLOOR),
    # tf.distribute over two logical CPU devices, configured before TensorFlow initializes its devices
    "tf-replicas": WorkerKind({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("tensorflow",),
                              hidden=TENSORFLOW_KERAS_UNUSED, floor=MIRRORED_FLOOR),
    # PyTorch DistributedDataParallel: the worker spawns the two ranks (parallel/torch_ddp.py)
    "torch-ddp": WorkerKind({}, ("torch",), floor=DDP_FLOOR),
    # onnx-simplifier 0.4.36 (workflows/folding.py): its own build of ONNX segfaults the interpreter in a process
    # that imported TensorFlow, which an xdist worker may have for another family; never imported here
    "onnxsim": WorkerKind({}, ("onnx", "onnxruntime", "onnxsim")),
    # onnx2tf, in its own environment (ENVIRONMENTS): it pins TensorFlow 2.19, beside bnparity's 2.21
    "onnx2tf": WorkerKind({"TF_CPP_MIN_LOG_LEVEL": "3"}, ("onnx2tf",), environment="onnx2tf", floor=ONNX2TF_FLOOR),
}
