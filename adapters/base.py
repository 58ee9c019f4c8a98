"""The one interface every BatchNorm implementation is driven through.

An adapter is built from a framework-neutral :class:`BatchNormSpec`, translates it to its
framework's native arguments, and exchanges NumPy arrays in the neutral layout (channels at
``spec.axis``) with the suites. Subclasses implement five small native verbs; this class does
the validation, the layout and the dtype handling once for all of them.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .conventions import Conventions
from .spec import BatchNormSpec, SpecError


class AdapterError(RuntimeError):
    """An adapter broke the interface (a verb returned the wrong shape, dtype or count): the
    message names the implementation, the verb and what was wrong."""

    def __init__(self, impl_id: str, verb: str, what: str):
        super().__init__(f"{impl_id}: {verb} {what}")


@functools.cache
def with_id(adapter: type, impl_id: str) -> type:
    """``adapter`` under the id the registry gives it: the class itself where it already has that id,
    else a subclass that has (the registry's entry is the one place an id is written)."""
    if getattr(adapter, "id", None) == impl_id:
        return adapter
    return type(adapter.__name__, (adapter,), {"id": impl_id, "__module__": adapter.__module__,
                                               "__qualname__": adapter.__qualname__, "__doc__": adapter.__doc__})


class State(NamedTuple):
    """The four per-channel tensors of a BatchNorm layer, as float64 NumPy vectors."""

    mean: np.ndarray
    variance: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray


class Adapter(abc.ABC):
    """One BatchNorm implementation behind the common verbs.

    Class attributes say what the implementation is and claims; ``declared`` is checked by the
    suites against what the framework does, never trusted.
    """

    #: "<framework>-<implementation>", the id tests and the matrix use: given by the registry's entry
    #: (``with_id``); an adapter from outside declares it here for ``--bnparity-impl``.
    id: ClassVar[str]
    #: The conventions this implementation claims to follow.
    declared: ClassVar[Conventions]
    #: Batch ranks the native layer accepts.
    ndims: ClassVar[tuple[int, ...]] = (2, 3, 4, 5)
    #: Dtypes the native layer computes in.
    dtypes: ClassVar[tuple[str, ...]] = ("float16", "bfloat16", "float32", "float64")
    #: Where the native layer wants the channel axis, or None where it takes any axis.
    native_channel_axis: ClassVar[int | None] = None
    #: The one batch rank the native layer takes (BatchNorm2d, the fused Keras kernel: 4), or None.
    #: Lower-rank batches get singleton spatial axes, which change no statistic: BatchNorm2d on
    #: (N, C, 1, 1) is BatchNorm1d on (N, C).
    native_ndim: ClassVar[int | None] = None
    #: The key of ``native`` that holds the momentum (or decay) argument.
    momentum_argument: ClassVar[str] = "momentum"
    #: The key of ``native_arguments`` that holds the epsilon argument, in the framework's own name.
    epsilon_argument: ClassVar[str] = "epsilon"
    #: Cases where this implementation knowingly differs from the reference of its declaration
    #: (``adapters.divergence.Divergence``): strict xfails, as bnparity's own list (``suites/divergences.py``).
    known_divergences: ClassVar[tuple] = ()
    #: Whether the framework has a training API (an optimizer) for the founding question's network;
    #: without one, ``founding_network`` is a plain refusal (an ONNX operator, a bare layer).
    has_training_api: ClassVar[bool] = True

    def __init__(self, spec: BatchNormSpec):
        if not isinstance(spec, BatchNormSpec):
            raise SpecError("spec", type(spec).__name__, "must be a BatchNormSpec")
        if spec.ndim not in self.ndims:
            raise SpecError("ndim", spec.ndim, f"is not supported by {self.id}, which takes ranks {self.ndims}")
        if spec.dtype not in self.dtypes:
            raise SpecError("dtype", spec.dtype, f"is not supported by {self.id}, which takes {', '.join(self.dtypes)}")
        self.spec = spec
        self.native = self.native_arguments()
        if spec.averaging == "exponential" and self.momentum_argument not in self.native:
            raise AdapterError(self.id, "native_arguments", f"returned no {self.momentum_argument!r} (keys: {', '.join(self.native)}): "
                               "set the adapter's momentum_argument to the key that holds its momentum (or decay) argument")
        self._build()

    @classmethod
    def with_framework_defaults(cls, spec: BatchNormSpec) -> Adapter:
        """The adapter of a layer built as the framework builds it when given neither a momentum nor an
        epsilon: ``native_arguments`` without those two keys, handed to ``_build`` (which passes on only
        the keys it finds). The probes of the defaults measure this layer, so that a default is the
        layer's behaviour, not the adapter's word."""
        adapter = cls.__new__(cls)
        adapter.spec = spec
        native = adapter.native_arguments()
        missing = [key for key in (cls.momentum_argument, cls.epsilon_argument) if key not in native]
        if missing:
            raise AdapterError(cls.id, "native_arguments", f"returned no {' or '.join(map(repr, missing))} (keys: {', '.join(native)}): "
                               "set the adapter's momentum_argument and epsilon_argument to the keys of those arguments")
        adapter.native = {k: v for k, v in native.items() if k not in (cls.momentum_argument, cls.epsilon_argument)}
        adapter.framework_defaults = True  # a worker's adapter builds the same there (adapters/worker.py)
        adapter._build()
        return adapter

    # -- translation ---------------------------------------------------------------------------

    @abc.abstractmethod
    def native_arguments(self) -> dict[str, Any]:
        """The native constructor arguments that make the layer follow ``self.spec``.

        Raises SpecError where no native argument reproduces part of the description.
        """

    @abc.abstractmethod
    def native_defaults(self) -> dict[str, Any]:
        """``momentum`` and ``epsilon`` of a native layer built with default arguments, read back from it."""

    @abc.abstractmethod
    def native_state_names(self) -> tuple[str, str, str, str]:
        """The framework's own names of moving mean, moving variance, gamma and beta, read from the layer."""

    def native_weight_order(self) -> tuple[str, ...] | None:
        """The four state names (``native_state_names``) in the order the framework's own list of the layer's
        weights holds them (``_weight_list``), or None where the adapter does not say."""
        listed = self._weight_list()
        if listed is None:
            return None
        mine = set(self.native_state_names()) - {"absent"}
        return tuple(name for name in listed if name in mine)

    def _weight_list(self) -> list[str] | None:
        """The names in the framework's own list of this layer's weights, in its order (other entries may be
        among them), or None where the framework keeps no such list or the adapter does not say."""
        return None

    def native_dtypes(self) -> dict[str, str]:
        """The dtype of the last training output and of the stored moving mean, as the framework has them."""
        return {"output": self.output_dtype, "moving": self.moving_dtype()}

    @abc.abstractmethod
    def moving_dtype(self) -> str:
        """The dtype the native layer stores its moving mean in."""

    @abc.abstractmethod
    def spec_from_native(self, native: dict[str, Any]) -> BatchNormSpec:
        """The neutral description that native arguments ``native`` mean: the inverse of native_arguments.

        What the native arguments do not say (the batch rank and, for frameworks that fix it, the
        channel axis) is taken from this adapter's description.
        """

    # -- the common verbs ------------------------------------------------------------------------

    def train_step(self, batch: np.ndarray) -> np.ndarray:
        """One training-mode forward pass: returns the output and updates the moving statistics."""
        batch = self.spec.check_batch(batch)
        output = self._train(self._to_native(batch))
        self.output_dtype = self._floating_dtype("_train", output)
        return self._neutral_output("_train", output, batch.shape)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """One inference-mode forward pass with the moving statistics."""
        batch = self.spec.check_batch(batch)
        output = self._infer(self._to_native(batch))
        self._floating_dtype("_infer", output)
        return self._neutral_output("_infer", output, batch.shape)

    def state(self) -> State:
        """Moving mean, moving variance, gamma and beta as float64 NumPy vectors."""
        values = self._read()
        if not isinstance(values, (tuple, list)) or len(values) != 4:
            raise AdapterError(self.id, "_read", f"returned {type(values).__name__}, not four values (mean, variance, gamma, beta)")
        vectors = []
        for name, value in zip(State._fields, values):
            try:
                # a copy: a float64 tensor's .numpy() can share the layer's memory, which the next step overwrites
                vector = np.array(value, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as error:
                raise AdapterError(self.id, "_read", f"returned a {name} that is not numbers ({error})") from None
            if vector.shape != (self.spec.num_features,):
                raise AdapterError(self.id, "_read", f"returned {vector.size} values for {name}, not {self.spec.num_features}")
            vectors.append(vector)
        return State(*vectors)

    def _floating_dtype(self, verb: str, output: Any) -> str:
        """The name of the dtype a verb's output has, which must be a floating-point one."""
        dtype = getattr(output, "dtype", None)
        name = dtype_name(dtype) if dtype is not None else "none"
        if "float" not in name:
            raise AdapterError(self.id, verb, f"returned {type(output).__name__} of dtype {name}, not floating-point numbers")
        return name

    def _neutral_output(self, verb: str, output: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A verb's output in the neutral layout, which must have the batch's shape."""
        try:
            array = self._from_native(output)
        except (TypeError, ValueError) as error:
            raise AdapterError(self.id, verb, f"returned {type(output).__name__}, which does not convert to an array ({error})") from None
        if array.shape != shape:
            raise AdapterError(self.id, verb, f"returned shape {array.shape} for a batch of shape {shape}")
        return array

    def set_state(self, state: State) -> None:
        """Overwrite the four tensors; each must be a vector of num_features finite values."""
        for name, value in zip(State._fields, state):
            value = np.asarray(value)
            if value.shape != (self.spec.num_features,):
                raise SpecError(f"state.{name}", value.shape, f"must have shape ({self.spec.num_features},)")
            if not np.all(np.isfinite(value)):
                raise SpecError(f"state.{name}", value, "must be finite")
        self._write(State(*(np.asarray(v, dtype=np.float64) for v in state)))

    def founding_network(self, kernel: float, second_kernel: float, x, y, learning_rate: float) -> dict[str, Any]:
        """The founding question's network, trained one step in this framework's own API.

        dense(1, no bias, ``kernel``) -> this BatchNorm -> ReLU -> dense(1, no bias,
        ``second_kernel``) -> this BatchNorm, mean squared error against ``y``, one Adam step
        (``learning_rate``, epsilon 1e-8 as ``tf.train.AdamOptimizer``) with the moving statistics
        updated, then read back in inference mode. Both BatchNorms are built from ``self.native``.
        Returns the first dense kernel, the first BatchNorm's state (``moving_mean``,
        ``moving_variance``, ``gamma``, ``beta``) and its inference output ``bn_1`` for ``x``,
        each as a flat float64 NumPy array.
        """
        values = self._founding_network(kernel, second_kernel, np.asarray(x, np.float64), np.asarray(y, np.float64), learning_rate)
        return {name: to_float64(value).ravel() for name, value in values.items()}

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict[str, Any]:
        """The network's values as the framework has them (see founding_network)."""
        raise NotImplementedError(f"{self.id} has no training API to run the founding question's network in")

    def eager(self) -> contextlib.AbstractContextManager:
        """A context in which this adapter's steps run op by op instead of compiled.

        How each implementation runs is its registry entry's ``execution``; where that compiles,
        ``suites/test_execution.py`` compares the two. The same framework code runs either way
        (``jax.disable_jit``), so a compiled step that gives other numbers than its eager twin is a
        finding about the compiler, for the matrix, not a tolerance to loosen.
        """
        return contextlib.nullcontext()

    # -- what each framework implements ----------------------------------------------------------

    @abc.abstractmethod
    def _build(self) -> None:
        """Create the native layer from ``self.native``."""

    @abc.abstractmethod
    def _train(self, batch: np.ndarray) -> Any:
        """Training-mode call on a native-layout float64 batch; returns the output in its native dtype."""

    @abc.abstractmethod
    def _infer(self, batch: np.ndarray) -> Any:
        """Inference-mode call on a native-layout float64 batch; returns a NumPy-convertible array."""

    @abc.abstractmethod
    def _read(self) -> tuple[Any, Any, Any, Any]:
        """Native moving mean, moving variance, gamma, beta."""

    @abc.abstractmethod
    def _write(self, state: State) -> None:
        """Assign the four float64 vectors to the native tensors."""

    # -- layout ----------------------------------------------------------------------------------

    def _to_native(self, batch: np.ndarray) -> np.ndarray:
        if self.native_channel_axis is not None:
            batch = np.moveaxis(batch, self.spec.channel_axis, self.native_channel_axis)
        missing = (self.native_ndim or batch.ndim) - batch.ndim
        if missing > 0:  # singleton spatial axes, before the channel axis where it is last
            shape = batch.shape
            if self._native_channels_last():
                batch = batch.reshape(shape[:-1] + (1,) * missing + shape[-1:])
            else:
                batch = batch.reshape(shape + (1,) * missing)
        return batch

    def _from_native(self, output: Any) -> np.ndarray:
        output = to_float64(output)
        extra = output.ndim - self.spec.ndim
        if extra > 0:
            if self._native_channels_last():
                output = output.reshape(output.shape[: -1 - extra] + output.shape[-1:])
            else:
                output = output.reshape(output.shape[: self.spec.ndim])
        if self.native_channel_axis is None:
            return output
        return np.moveaxis(output, self.native_channel_axis, self.spec.channel_axis)

    def _native_channels_last(self) -> bool:
        if self.native_channel_axis is None:
            return self.spec.channel_axis == self.spec.ndim - 1
        return self.native_channel_axis == -1

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"


class TypedArray:
    """float64 values with the name of the dtype the framework computed them in: what an adapter
    returns where the framework's own arrays do not convert to NumPy with their dtype (bfloat16 in
    tinygrad, any array that comes back from a worker process)."""

    def __init__(self, values: np.ndarray, dtype: str):
        self.values, self.dtype = values, dtype

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def exponential_only(spec: BatchNormSpec, framework: str) -> None:
    """Refuse a cumulative average, or none, where the framework has no argument that gives it."""
    if spec.averaging != "exponential":
        raise SpecError("averaging", spec.averaging, f"has no {framework} argument: {framework} keeps an exponential moving average only")


def dtype_name(dtype: Any) -> str:
    """'float16', 'bfloat16', ... from a NumPy, ml_dtypes, TensorFlow, PyTorch ('torch.float16'),
    Paddle ('paddle.float16', named 'FLOAT16') or MLX ('mlx.core.float16') dtype."""
    return str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].lower()  # Paddle's name is 'FLOAT32'


def to_float64(value: Any) -> np.ndarray:
    """An array-like of any float dtype (ml_dtypes' bfloat16 included) as float64 NumPy."""
    return np.asarray(value).astype(np.float64)
