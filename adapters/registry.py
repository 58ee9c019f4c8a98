"""Every implementation bnparity knows, by id, without importing any framework.

An entry names the module and class of its adapter as strings; the module (and with it the
framework) is imported by :meth:`Implementation.load`, the first time a test needs it. Whether a
framework is installed is asked of the import system (``find_spec``) and its version of the
package metadata, neither of which imports it.
"""

from __future__ import annotations

import functools
import glob
import importlib
import importlib.metadata
import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .imports import KERAS_UNUSED, TENSORFLOW_KERAS_UNUSED

if TYPE_CHECKING:
    from .base import Adapter

#: The repository's root: where bnparity's modules and its environments of their own (ENVIRONMENTS) are.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The families, each a ``-k`` word and a marker: bnparity's own, then those of implementations
#: registered from outside (``register``), appended as they come.
FRAMEWORKS = ["tensorflow", "torch", "jax", "onnx", "paddle", "mlx", "tinygrad"]
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

    @functools.cache
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
    """

    env: dict[str, str] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    environment: str | None = None


WORKERS = {
    # TensorFlow 1's layers: the legacy Keras behind tf.compat.v1.layers, then graph mode (adapters/keras/tf1.py)
    "tensorflow1": WorkerKind({"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("tensorflow", "tf_keras"),
                              hidden=TENSORFLOW_KERAS_UNUSED),
    # Keras 3 reads its backend once, at import
    "keras-jax": WorkerKind({"KERAS_BACKEND": "jax"}, ("keras",), hidden=KERAS_UNUSED),
    # Keras 3.15 imports JAX wherever it is installed, for its Orbax checkpoint callback alone
    # (keras/src/callbacks/orbax_checkpoint.py, in a try/except ImportError): on the PyTorch backend
    # that is ~110 MiB and 0.3 s of a worker that never calls it (measured; the others: adapters/imports.py)
    "keras-torch": WorkerKind({"KERAS_BACKEND": "torch"}, ("keras",), hidden=("jax", *KERAS_UNUSED)),
    # importing Paddle after TensorFlow crashes the interpreter (adapters/paddle/nn.py)
    "paddle": WorkerKind({"GLOG_minloglevel": "2"}, ("paddle",)),
    # conversion paths import their source and target together (converters/), which a family's
    # selection must not bring into the test process
    "converters": WorkerKind({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("torch", "onnx"),
                             hidden=TENSORFLOW_KERAS_UNUSED),
    # data-parallel JAX: two CPU devices, which XLA reads once, when JAX starts
    "jax-replicas": WorkerKind({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, ("jax",)),
    # tf.distribute over two logical CPU devices, configured before TensorFlow initializes its devices
    "tf-replicas": WorkerKind({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}, ("tensorflow",),
                              hidden=TENSORFLOW_KERAS_UNUSED),
    # PyTorch DistributedDataParallel: the worker spawns the two ranks (parallel/torch_ddp.py)
    "torch-ddp": WorkerKind({}, ("torch",)),
    # onnx2tf, in its own environment (ENVIRONMENTS): it pins TensorFlow 2.19, beside bnparity's 2.21
    "onnx2tf": WorkerKind({"TF_CPP_MIN_LOG_LEVEL": "3"}, ("onnx2tf",), environment="onnx2tf"),
}


@dataclass(frozen=True)
class Implementation:
    """One registered BatchNorm implementation.

    id: "<framework>-<implementation>", what test ids and the matrix show.
    framework: the family a user selects with ``-k`` or ``-m``.
    adapter: "module:Class" of the adapter, imported on first use.
    distributions: the pip distributions it needs, whose versions a report names.
    modules: the import names that must be importable for it to run.
    execution: how bnparity runs its steps, as the framework's users run them (shown in the matrix
        and the report's header); one of EXECUTION_MODES.
    worker: the kind of worker process it runs in (one of WORKERS), or None for the test process.
    shipped: whether bnparity ships it (False for one registered from outside, which the committed
        matrix leaves out).
    """

    id: str
    framework: str
    adapter: str
    distributions: tuple[str, ...]
    modules: tuple[str, ...]
    execution: str = "eager"
    worker: str | None = None
    shipped: bool = True

    def __post_init__(self):
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"implementation id {self.id!r} must be '<family>-<name>' in lower case, digits and underscores")
        if self.framework != self.id.split("-", 1)[0]:
            raise ValueError(f"{self.id}: its id must start with its family {self.framework!r}")
        if self.execution not in EXECUTION_MODES:
            raise ValueError(f"{self.id}: execution {self.execution!r} is not one of {', '.join(EXECUTION_MODES)}")
        if self.worker is not None and self.worker not in WORKERS:
            raise ValueError(f"{self.id}: worker {self.worker!r} is not one of {', '.join(WORKERS)}")

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

    def load(self, here: bool = False) -> type[Adapter]:
        """The adapter class: its module imported (and with it the framework, unless the
        implementation runs in a worker, whose module imports its framework only when a verb
        runs); for a worker's implementation, unless ``here``, the class that runs it there."""
        module_name, class_name = self.adapter.split(":")
        adapter = getattr(importlib.import_module(module_name), class_name)
        if self.worker is None or here:
            return adapter
        from .worker import in_worker

        return in_worker(adapter, self.worker)

    def create(self, spec) -> Adapter:
        """Build this implementation's adapter for ``spec``."""
        return self.load()(spec)


def _entries() -> dict[str, Implementation]:
    tensorflow = (("tensorflow", "keras"), ("tensorflow", "keras"))
    tf_keras = (("tensorflow", "tf-keras"), ("tensorflow", "tf_keras"))
    torch = (("torch",), ("torch",))
    jax = (("jax", "jaxlib"), ("jax",))
    flax = (("jax", "jaxlib", "flax"), ("jax", "flax"))
    equinox = (("jax", "jaxlib", "equinox"), ("jax", "equinox"))
    paddle = (("paddlepaddle",), ("paddle",))
    entries = [
        Implementation("tensorflow-tf1", "tensorflow", "adapters.keras.tf1:Tf1BatchNorm", *tf_keras, execution="graph session", worker="tensorflow1"),
        Implementation("tensorflow-keras3", "tensorflow", "adapters.keras.keras3:Keras3BatchNorm", *tensorflow),
        Implementation("tensorflow-tf_keras", "tensorflow", "adapters.keras.tf_keras:TfKerasBatchNorm", *tf_keras),
        Implementation("tensorflow-tf_keras_fused", "tensorflow", "adapters.keras.tf_keras:TfKerasFusedBatchNorm", *tf_keras),
        Implementation("tensorflow-sonnet", "tensorflow", "adapters.sonnet.nn:SonnetBatchNorm", ("tensorflow", "dm-sonnet"), ("tensorflow", "sonnet")),
        Implementation("torch-batchnorm1d", "torch", "adapters.torch.nn:TorchBatchNorm", *torch),
        Implementation("torch-batchnorm2d", "torch", "adapters.torch.nn:TorchBatchNorm2d", *torch),
        Implementation("torch-keras3", "torch", "adapters.keras.keras3:Keras3TorchBatchNorm", ("torch", "keras"), ("torch", "keras"), worker="keras-torch"),
        Implementation("jax-own", "jax", "adapters.jax.own:JaxOwnBatchNorm", *jax, execution="jax.jit"),
        Implementation("jax-own_unbiased", "jax", "adapters.jax.own:JaxOwnUnbiased", *jax, execution="jax.jit"),
        Implementation("jax-flax_linen", "jax", "adapters.jax.flax_linen:FlaxLinenBatchNorm", *flax, execution="jax.jit"),
        Implementation("jax-flax_nnx", "jax", "adapters.jax.flax_nnx:FlaxNnxBatchNorm", *flax, execution="jax.jit"),
        Implementation("jax-haiku", "jax", "adapters.jax.haiku:HaikuBatchNorm", ("jax", "jaxlib", "dm-haiku"), ("jax", "haiku"), execution="jax.jit"),
        Implementation("jax-equinox_ema", "jax", "adapters.jax.equinox:EquinoxEmaBatchNorm", *equinox, execution="jax.jit"),
        Implementation("jax-equinox_batch", "jax", "adapters.jax.equinox:EquinoxBatchBatchNorm", *equinox, execution="jax.jit"),
        Implementation("jax-keras3", "jax", "adapters.keras.keras3:Keras3JaxBatchNorm", ("jax", "jaxlib", "keras"), ("jax", "keras"), execution="jax.jit", worker="keras-jax"),
        Implementation("onnx-reference", "onnx", "adapters.onnx.node:OnnxReferenceBatchNorm", ("onnx",), ("onnx",), execution="onnx reference evaluator"),
        Implementation("onnx-onnxruntime", "onnx", "adapters.onnx.node:OnnxRuntimeBatchNorm", ("onnx", "onnxruntime"), ("onnx", "onnxruntime"), execution="onnxruntime session"),
        Implementation("paddle-batchnorm1d", "paddle", "adapters.paddle.nn:PaddleBatchNorm1D", *paddle, worker="paddle"),
        Implementation("paddle-batchnorm2d", "paddle", "adapters.paddle.nn:PaddleBatchNorm2D", *paddle, worker="paddle"),
        Implementation("mlx-batchnorm", "mlx", "adapters.mlx.nn:MlxBatchNorm", ("mlx", "mlx-cpu"), ("mlx",)),
        Implementation("tinygrad-batchnorm", "tinygrad", "adapters.tinygrad.nn:TinygradBatchNorm", ("tinygrad",), ("tinygrad",), execution="TinyJit"),
    ]
    return {entry.id: entry for entry in entries}


IMPLEMENTATIONS: dict[str, Implementation] = _entries()


def external(impl_id: str, target: str, distribution: str | None = None) -> Implementation:
    """An implementation from outside bnparity: ``target`` is its adapter's ``module:Class``, its
    family is its id's first word, and it needs its module's top-level package."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"{impl_id}: {target!r} must be 'module:Class'")
    return Implementation(impl_id, impl_id.split("-", 1)[0], target, (distribution,) if distribution else (),
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
    module, _, name = target.partition(":")
    try:
        adapter = getattr(importlib.import_module(module), name)
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
        params, name = params.split("-to-", 1)[1], lambda impl_id, names=porting_names(): names.get(impl_id, "\0")
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

    def __post_init__(self):
        unknown = [f for f in self.frameworks if f not in FRAMEWORKS]
        if unknown:
            raise ValueError(f"{self.id}: unknown frameworks {unknown}")

    def load(self):
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

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
