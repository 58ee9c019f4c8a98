"""Every implementation bnparity knows, by id, without importing any framework.

An entry names the module and class of its adapter as strings; the module (and with it the
framework) is imported by :meth:`Implementation.load`, the first time a test needs it. Whether a
framework is installed is asked of the import system (``find_spec``) and its version of the
package metadata, neither of which imports it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import pkgutil
import re
import shutil
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .base import with_id
from .processes import ENVIRONMENTS, WORKERS

if TYPE_CHECKING:
    from .base import Adapter



@dataclass(frozen=True)
class Family:
    """A framework family: the ``-k`` word and marker that selects its cases, the extra of
    ``pyproject.toml`` that installs it (``tests/test_registry.py`` checks that it pins every
    distribution its implementations name), and what a case of it costs.

    case_cost: seconds per case relative to a JAX case, from a full run's own test durations (the first
        case of a family also pays its imports and worker processes): tinygrad's graphs are scheduled
        in Python and its kernels compiled by clang. Only the order in which the scheduler hands out
        families depends on it (``suites/scheduling.py``), never a result.
    """

    name: str
    extra: str
    case_cost: float


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("tensorflow", "tensorflow", 0.8),
    Family("torch", "torch", 0.35),
    Family("jax", "jax", 1.0),
    Family("onnx", "onnx", 0.1),
    Family("paddle", "paddle", 0.25),
    Family("mlx", "mlx", 0.16),
    Family("tinygrad", "tinygrad", 1.7),
)}
#: The families, each a ``-k`` word and a marker: bnparity's own (FAMILIES), then those of implementations
#: registered from outside (``register``), appended as they come.
FRAMEWORKS = list(FAMILIES)
#: The entry point group under which a package registers its own implementations, ``id = "module:Class"``.
ENTRY_POINT_GROUP = "bnparity.implementations"
#: An implementation id: "<family>-<name>", lower case, digits and underscores.
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*-[a-z0-9_]+")
#: Each way a step can run -> whether it is compiled.
EXECUTION_MODES = {
    "eager": False,  # one framework call per operation, as in a notebook or a plain training loop
    "jax.jit": True,  # the step traced once per structure, shape and dtype and compiled by XLA
    "graph session": False,  # TensorFlow 1: a graph built once, each step one Session.run (no XLA)
    "onnx reference evaluator": False,  # onnx.reference, NumPy operator by operator
    "onnxruntime session": False,  # an InferenceSession over the one-node model
    "TinyJit": True,  # tinygrad: kernels captured on the second call of a step and replayed after
}


@dataclass(frozen=True)
class Implementation:
    """One registered BatchNorm implementation.

    id: "<family>-<implementation>", what test ids and the matrix show; the family (``framework``) is
        what a user selects with ``-k`` or ``-m``.
    adapter: "module:Class" of the adapter, imported on first use.
    distributions: the pip distributions it needs, whose versions a report names.
    modules: the import names that must be importable for it to run.
    execution: how bnparity runs its steps, as the framework's users run them (shown in the matrix
        and the report's header); one of EXECUTION_MODES.
    worker: the kind of worker process it runs in (one of WORKERS), or None for the test process.
    shipped: whether bnparity ships it (False for one registered from outside, which the committed
        matrix leaves out).
    floor: the least any check of it pays: its framework's import and one training step of its layer,
        as code that ``bench/floor.py`` runs (bnparity's own implementations).
    """

    id: str
    adapter: str
    distributions: tuple[str, ...]
    modules: tuple[str, ...]
    execution: str = "eager"
    worker: str | None = None
    shipped: bool = True
    floor: str = ""
    #: Programs it needs on the PATH besides its packages, each with what a user without it is told.
    needs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"implementation id {self.id!r} must be '<family>-<name>' in lower case, digits and underscores")
        if self.execution not in EXECUTION_MODES:
            raise ValueError(f"{self.id}: execution {self.execution!r} is not one of {', '.join(EXECUTION_MODES)}")
        if self.worker is not None and self.worker not in WORKERS:
            raise ValueError(f"{self.id}: worker {self.worker!r} is not one of {', '.join(WORKERS)}")

    @property
    def framework(self) -> str:
        """Its family: the first word of its id."""
        return self.id.split("-", 1)[0]

    @property
    def compiled(self) -> bool:
        """Whether its steps are compiled; if so, a test compares them with the same steps run eagerly."""
        return EXECUTION_MODES[self.execution]

    def missing(self) -> list[str]:
        """The import names that are not installed, found without importing anything."""
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def versions(self) -> dict[str, str]:
        """The installed version of each distribution, read from package metadata."""
        return installed_versions(self.distributions)

    def cannot_run(self) -> str | None:
        """Why it cannot run here although installed (a program it needs is missing), or None."""
        reasons = [reason for program, reason in self.needs if shutil.which(program) is None]
        return "; ".join(reasons) or None

    def load(self, here: bool = False) -> type[Adapter]:
        """The adapter class: its module imported (and with it the framework, unless the
        implementation runs in a worker, whose module imports its framework only when a verb
        runs); for a worker's implementation, unless ``here``, the class that runs it there."""
        adapter = with_id(pkgutil.resolve_name(self.adapter), self.id)
        if self.worker is None or here:
            return adapter
        from .worker import in_worker

        return in_worker(adapter, self.worker, self.adapter)

    def create(self, spec) -> Adapter:
        """Build this implementation's adapter for ``spec``."""
        return self.load()(spec)


def _keras3(backend: str) -> str:
    return f"import os\nos.environ['KERAS_BACKEND'] = '{backend}'\nimport keras\nkeras.layers.BatchNormalization()(x, training=True)\n"


#: The floor of each implementation (``bench/floor.py``): its framework's import and one training step of
#: its layer, with nothing of bnparity, on ``x``, an (8, 4) float32 array. Those of a worker kind run
#: together in an interpreter of their own with the kind's environment, as the suites' worker does.
_FLOORS = {
    "tensorflow-tf1": (
        "import tensorflow as tf\n"
        "tf.compat.v1.disable_eager_execution()\n"
        "v = tf.compat.v1.placeholder(tf.float32, [None, 4])\n"
        "y = tf.compat.v1.layers.batch_normalization(v, training=True)\n"
        "with tf.compat.v1.Session() as s:\n"
        "    s.run(tf.compat.v1.global_variables_initializer())\n"
        "    s.run([y] + tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS), {v: x})\n"),
    "tensorflow-keras3": _keras3("tensorflow"),
    "tensorflow-tf_keras": "import tf_keras\ntf_keras.layers.BatchNormalization(fused=False)(x, training=True)\n",
    "tensorflow-tf_keras_fused": "import tf_keras\ntf_keras.layers.BatchNormalization(fused=True)(x.reshape(8, 1, 1, 4), training=True)\n",
    "tensorflow-sonnet": "import sonnet as snt\nsnt.BatchNorm(True, True)(x, is_training=True)\n",
    "torch-batchnorm1d": "import torch\ntorch.nn.BatchNorm1d(4)(torch.from_numpy(x))\n",
    "torch-batchnorm2d": "import torch\ntorch.nn.BatchNorm2d(4)(torch.from_numpy(x).reshape(8, 4, 1, 1))\n",
    "torch-keras3": _keras3("torch"),
    "jax-own": "import jax, jax.numpy as jnp\njax.jit(lambda v: (v - v.mean(0)) / jnp.sqrt(v.var(0) + 1e-3))(x).block_until_ready()\n",
    "jax-own_unbiased": "import jax, jax.numpy as jnp\njax.jit(lambda v: (v - v.mean(0)) / jnp.sqrt(v.var(0, ddof=1) + 1e-3))(x).block_until_ready()\n",
    "jax-flax_linen": (
        "import jax, flax.linen as nn\n"
        "variables = nn.BatchNorm().init(jax.random.key(0), x, use_running_average=False)\n"
        "nn.BatchNorm().apply(variables, x, use_running_average=False, mutable=['batch_stats'])\n"),
    "jax-flax_nnx": "from flax import nnx\nnnx.BatchNorm(4, rngs=nnx.Rngs(0))(x)\n",
    "jax-haiku": (
        "import jax, haiku as hk\n"
        "forward = hk.transform_with_state(lambda v: hk.BatchNorm(True, True, 0.9)(v, True))\n"
        "params, state = forward.init(jax.random.key(0), x)\n"
        "forward.apply(params, state, None, x)\n"),
    **{f"jax-equinox_{mode}": (
        "import jax, equinox as eqx\n"
        f"layer, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, 'batch', mode='{mode}')\n"
        "jax.vmap(lambda v, s: layer(v, s), axis_name='batch', in_axes=(0, None), out_axes=(0, None))(x, state)\n")
       for mode in ("ema", "batch")},
    "jax-keras3": _keras3("jax"),
    **{f"onnx-{runner}": (
        "from onnx import TensorProto, helper\n"
        "names = ['X', 'scale', 'B', 'mean', 'var']\n"
        "inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [8, 4] if n == 'X' else [4]) for n in names]\n"
        "outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ('Y', 'running_mean', 'running_var')]\n"
        "node = helper.make_node('BatchNormalization', names, ['Y', 'running_mean', 'running_var'], training_mode=1)\n"
        "model = helper.make_model(helper.make_graph([node], 'bn', inputs, outputs), opset_imports=[helper.make_opsetid('', 15)])\n"
        "ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)\n"
        "feeds = dict(zip(names, [x, ones, zeros, zeros, ones]))\n" + run)
       for runner, run in (("onnxruntime", "import onnxruntime\nonnxruntime.InferenceSession(model.SerializeToString()).run(None, feeds)\n"),
                           ("reference", "from onnx.reference import ReferenceEvaluator\nReferenceEvaluator(model).run(None, feeds)\n"))},
    "paddle-batchnorm1d": "import paddle\npaddle.nn.BatchNorm1D(4)(paddle.to_tensor(x))\n",
    "paddle-batchnorm2d": "import paddle\npaddle.nn.BatchNorm2D(4)(paddle.to_tensor(x).reshape([8, 4, 1, 1]))\n",
    "mlx-batchnorm": "import mlx.core as mx, mlx.nn\nmx.eval(mlx.nn.BatchNorm(4)(mx.array(x)))\n",
    "tinygrad-batchnorm": (
        "from tinygrad import Tensor, TinyJit, nn\nfrom tinygrad.helpers import Context\n"
        "layer = nn.BatchNorm(4)\n"
        "with Context(TRAINING=1):\n"
        "    TinyJit(lambda v: layer(v).realize())(Tensor(x).realize()).numpy()\n"),
}


def _entries() -> dict[str, Implementation]:
    tensorflow = (("tensorflow", "keras"), ("tensorflow", "keras"))
    tf_keras = (("tensorflow", "tf-keras"), ("tensorflow", "tf_keras"))
    torch = (("torch",), ("torch",))
    jax = (("jax", "jaxlib"), ("jax",))
    flax = (("jax", "jaxlib", "flax"), ("jax", "flax"))
    equinox = (("jax", "jaxlib", "equinox"), ("jax", "equinox"))
    paddle = (("paddlepaddle",), ("paddle",))
    entries = [
        Implementation("tensorflow-tf1", "adapters.keras.tf1:Tf1BatchNorm", *tf_keras, execution="graph session", worker="tensorflow1"),
        Implementation("tensorflow-keras3", "adapters.keras.keras3:Keras3BatchNorm", *tensorflow),
        Implementation("tensorflow-tf_keras", "adapters.keras.tf_keras:TfKerasBatchNorm", *tf_keras),
        Implementation("tensorflow-tf_keras_fused", "adapters.keras.tf_keras:TfKerasFusedBatchNorm", *tf_keras),
        Implementation("tensorflow-sonnet", "adapters.sonnet.nn:SonnetBatchNorm", ("tensorflow", "dm-sonnet"), ("tensorflow", "sonnet")),
        Implementation("torch-batchnorm1d", "adapters.torch.nn:TorchBatchNorm", *torch),
        Implementation("torch-batchnorm2d", "adapters.torch.nn:TorchBatchNorm2d", *torch),
        Implementation("torch-keras3", "adapters.keras.keras3:Keras3TorchBatchNorm", ("torch", "keras"), ("torch", "keras"), worker="keras-torch"),
        Implementation("jax-own", "adapters.jax.own:JaxOwnBatchNorm", *jax, execution="jax.jit"),
        Implementation("jax-own_unbiased", "adapters.jax.own:JaxOwnUnbiased", *jax, execution="jax.jit"),
        Implementation("jax-flax_linen", "adapters.jax.flax_linen:FlaxLinenBatchNorm", *flax, execution="jax.jit"),
        Implementation("jax-flax_nnx", "adapters.jax.flax_nnx:FlaxNnxBatchNorm", *flax, execution="jax.jit"),
        Implementation("jax-haiku", "adapters.jax.haiku:HaikuBatchNorm", ("jax", "jaxlib", "dm-haiku"), ("jax", "haiku"), execution="jax.jit"),
        Implementation("jax-equinox_ema", "adapters.jax.equinox:EquinoxEmaBatchNorm", *equinox, execution="jax.jit"),
        Implementation("jax-equinox_batch", "adapters.jax.equinox:EquinoxBatchBatchNorm", *equinox, execution="jax.jit"),
        Implementation("jax-keras3", "adapters.keras.keras3:Keras3JaxBatchNorm", ("jax", "jaxlib", "keras"), ("jax", "keras"),
                       execution="jax.jit", worker="keras-jax"),
        Implementation("onnx-reference", "adapters.onnx.node:OnnxReferenceBatchNorm", ("onnx",), ("onnx",), execution="onnx reference evaluator"),
        Implementation("onnx-onnxruntime", "adapters.onnx.node:OnnxRuntimeBatchNorm", ("onnx", "onnxruntime"), ("onnx", "onnxruntime"),
                       execution="onnxruntime session"),
        Implementation("paddle-batchnorm1d", "adapters.paddle.nn:PaddleBatchNorm1D", *paddle, worker="paddle"),
        Implementation("paddle-batchnorm2d", "adapters.paddle.nn:PaddleBatchNorm2D", *paddle, worker="paddle"),
        Implementation("mlx-batchnorm", "adapters.mlx.nn:MlxBatchNorm", ("mlx", "mlx-cpu"), ("mlx",)),
        Implementation("tinygrad-batchnorm", "adapters.tinygrad.nn:TinygradBatchNorm", ("tinygrad",), ("tinygrad",), execution="TinyJit",
                       needs=(("clang", "tinygrad's CPU device needs clang (Debian: apt-get install clang)"),)),
    ]
    return {entry.id: replace(entry, floor=_FLOORS[entry.id]) for entry in entries}


IMPLEMENTATIONS: dict[str, Implementation] = _entries()


def external(impl_id: str, target: str, distribution: str | None = None) -> Implementation:
    """An implementation from outside bnparity: ``target`` is its adapter's ``module:Class``, its
    family is its id's first word, and it needs its module's top-level package."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"{impl_id}: {target!r} must be 'module:Class'")
    return Implementation(impl_id, target, (distribution,) if distribution else (),
                          (module.split(".")[0],), shipped=False)


def register(impl: Implementation) -> None:
    """Add an implementation to the registry, and its family to FRAMEWORKS; before collection, so
    that every suite, the matrix and ``-k`` see it. An id that is taken is refused."""
    known = IMPLEMENTATIONS.get(impl.id)
    if known is not None:
        if known.adapter != impl.adapter:
            raise ValueError(f"implementation id {impl.id!r} is taken (by {known.adapter}); choose another for {impl.adapter}")
        return  # the same adapter twice (an entry point and --bnparity-impl)
    IMPLEMENTATIONS[impl.id] = impl
    if impl.framework not in FRAMEWORKS:
        FRAMEWORKS.append(impl.framework)


def register_entry_points() -> None:
    """Every implementation that an installed package registers under ENTRY_POINT_GROUP; nothing is imported."""
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        distribution = entry.dist.name if entry.dist else None
        try:
            register(external(entry.name, entry.value, distribution))
        except ValueError as error:
            raise ValueError(f"the entry point {entry.name} = {entry.value!r} of {distribution or 'an installed package'} "
                             f"in {ENTRY_POINT_GROUP}: {error}") from None


def register_adapter(target: str) -> Implementation:
    """The implementation of an adapter class named ``module:Class`` (``--bnparity-impl``), registered
    under the id the class declares; imports its module."""
    try:
        adapter = pkgutil.resolve_name(target)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"--bnparity-impl {target!r}: cannot load it ({type(error).__name__}: {error})") from None
    impl_id = getattr(adapter, "id", None)
    if not isinstance(impl_id, str):
        raise ValueError(f"--bnparity-impl {target!r}: the class has no `id` naming its implementation")
    impl = external(impl_id, target)
    register(impl)
    return impl


register_entry_points()


def implementation(impl_id: str) -> Implementation:
    """The registered implementation ``impl_id``, or an error listing the known ids."""
    try:
        return IMPLEMENTATIONS[impl_id]
    except KeyError:
        raise KeyError(f"unknown implementation {impl_id!r}; known: {', '.join(IMPLEMENTATIONS)}") from None


#: The source of every porting case, and the name its ids give it.
PORTING_SOURCE, PORTING_SOURCE_NAME = "torch-batchnorm1d", "batchnorm1d"


def porting_names() -> dict[str, str]:
    """Porting target id -> the name its porting cases give it (``batchnorm1d-to-keras3``).

    The targets are the implementations outside PyTorch (the source) and ONNX (no training API).
    A name leaves out the framework, so that ``-k <framework>`` does not select a case that also
    runs PyTorch; where names collide (Keras 3 on TensorFlow and on JAX, MLX's and tinygrad's
    ``batchnorm``, Paddle's ``batchnorm1d`` and the source's), the later ones in registry order
    get ``_2``, ``_3``. The report names each case's implementation in full.
    """
    names, seen = {}, {PORTING_SOURCE_NAME: 1}
    for impl_id, impl in IMPLEMENTATIONS.items():
        if impl.framework in ("torch", "onnx"):
            continue
        short = impl_id.split("-", 1)[1]
        seen[short] = seen.get(short, 0) + 1
        names[impl_id] = short if seen[short] == 1 else f"{short}_{seen[short]}"
    return names


def implementation_in(nodeid: str) -> str | None:
    """The implementation a test id runs, or None: the one its parameters open with
    (``test_x[torch-batchnorm1d-decay0.9]``), or for a porting case (``[batchnorm1d-to-keras3]``)
    its target, which the case builds after the PyTorch source."""
    _, _, params = nodeid.partition("[")
    if "-to-" in params:  # the target's porting name, then maybe more parameters
        names = porting_names()
        params, name = params.split("-to-", 1)[1], lambda impl_id: names.get(impl_id, "\0")
    else:
        name = str
    return next((i for i in sorted(IMPLEMENTATIONS, key=lambda i: -len(name(i)))
                 if params == name(i) + "]" or params.startswith(name(i) + "-")), None)


@dataclass(frozen=True)
class Column:
    """A column of a further section of the matrix (``reports.matrix.SECTIONS``: a conversion path, a
    data-parallel run): what it loads, only when a case that needs it runs, and the packages whose
    versions it states."""

    id: str
    target: str  #: "module:Class" of what runs it
    distributions: tuple[str, ...]  #: the packages it runs, whose versions the matrix states
    frameworks: tuple[str, ...]  #: the framework families it needs (their markers select it)
    #: The environment of its own (one of ENVIRONMENTS) where part of it runs, and the packages it runs
    #: there, whose versions the matrix states as "<package> (<environment>)".
    environment: str | None = None
    environment_distributions: tuple[str, ...] = ()
    #: The worker kind (one of WORKERS) its checks run in.
    worker: str | None = None

    def __post_init__(self):
        unknown = [f for f in self.frameworks if f not in FRAMEWORKS]
        if unknown:
            raise ValueError(f"{self.id}: unknown frameworks {unknown}")

    def load(self):
        return pkgutil.resolve_name(self.target)

    def versions(self) -> dict[str, str]:
        found = installed_versions(self.distributions)
        if self.environment is not None:
            env = ENVIRONMENTS[self.environment]
            found.update({f"{d} ({env.directory})": env.version(d) for d in self.environment_distributions})
        return found

    def missing(self) -> list[str]:
        return [d for d, v in self.versions().items() if v == "not installed"]

    def how_to_install(self, extra: str) -> str:
        """What installs what ``missing`` names: the extra, and the environment of its own where it has one."""
        how = f"pip install -e '.[{extra}]'"
        if self.environment is not None:
            how += f"; {ENVIRONMENTS[self.environment].how_to_build()}"
        return how


def installed_versions(distributions) -> dict[str, str]:
    """distribution -> its installed version, read from package metadata, or "not installed"."""
    return {dist: installed_version(dist) for dist in distributions}


@functools.cache
def installed_version(distribution: str) -> str:
    """One distribution's version, read once per process: each read parses the package's metadata
    file, and a run asks for the same few hundreds of times (the matrix's columns and environment)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
