"""tinygrad ``tinygrad.nn.BatchNorm`` (``tinygrad/nn/__init__.py``), on its CPU device.

tinygrad copies PyTorch's conventions: ``momentum=m`` weighs the *new* value (default 0.1),
epsilon 1e-5, channels at axis 1 of any rank, and the running variance receives the unbiased
batch variance, written as ``numel / (numel - C)``, with a two-pass variance. Training mode is
not a property of the layer but a context variable, ``Context(TRAINING=1)`` (since 0.14; earlier
releases used ``Tensor.training``), which the optimizer requires too. Half precision is run as a
tinygrad user casts a model, every tensor of the layer cast to the dtype.

The unbiased factor is computed in Python from the momentum (a float), so one value per channel
raises ``ZeroDivisionError`` (``numel - C == 0``) before any kernel runs.

tinygrad is lazy, and so is the layer's update of its running statistics: in the founding
question's network, written as tinygrad's optimizer invites (``loss.backward(); opt.step()``), the
update is realized only after the step has overwritten the kernel, so the moving statistics are
those of the batch under the new kernel (the founding question's table shows 0.35147938 for
0.3514931). Realizing them before ``opt.step()`` gives the batch's; this adapter keeps the naive
order, which is what a port will meet.

The CPU device compiles each kernel with a C compiler: clang (Debian's ``clang`` package, which
``.ci/run`` installs). With Debian 12's clang 14, bfloat16 kernels do not compile ("__bf16 is not
supported on this target"), so bfloat16 is refused on this toolchain; a newer clang may take it.
``track_running_stats=False`` (keep no moving statistics) is a case of the suites; tinygrad has
no argument for a cumulative average. Steps run under ``TinyJit``, as tinygrad users run a
training step (``eager()`` runs them without it, for the compiled-vs-eager test).
"""

from __future__ import annotations

import os

import numpy as np
from tinygrad import Tensor, TinyJit, dtypes, nn
from tinygrad.helpers import PARALLEL, Context

from ..base import Adapter, State, TypedArray
from ..conventions import Conventions, HalfPrecision, HalfStep
from ..pytorch_style import PyTorchArguments

# tinygrad compiles new kernels in a pool of processes, each replaced after 16 compiles (a fresh interpreter
# importing tinygrad every 16 kernels); PARALLEL=0, its own switch, compiles them here with the same clang.
# A PARALLEL set in the environment is left as it is.
if "PARALLEL" not in os.environ:
    PARALLEL.value = 0

DTYPES = {"float16": dtypes.half, "bfloat16": dtypes.bfloat16, "float32": dtypes.float32, "float64": dtypes.float64}
NAMES = {dtype.name: name for name, dtype in DTYPES.items()}  # tinygrad's "half", "float", ... -> ours
ATTRIBUTES = ("running_mean", "running_var", "weight", "bias")


def to_tensor(values: np.ndarray, dtype: str, keep: list) -> Tensor:
    """``values`` as a realized tensor of ``dtype`` on the CPU device.

    The tensor is made over NumPy's own memory (``Tensor.from_blob``), which costs a tenth of
    ``Tensor(values).realize()``: that schedules and runs a copy per call, a quarter of the suite's
    tinygrad time (measured). The memory must outlive the tensor, so the array is appended to ``keep``.
    """
    if dtype == "bfloat16":  # NumPy has no bfloat16: float32 on the host, the last rounding on the device
        return Tensor(values.astype(np.float32)).cast(dtypes.bfloat16).realize()
    values = np.ascontiguousarray(values, dtype=dtype)
    keep.append(values)
    return Tensor.from_blob(values.ctypes.data, values.shape, dtype=DTYPES[dtype], device="CPU")


def to_numpy(tensor: Tensor) -> np.ndarray:
    return (tensor.cast(dtypes.float32) if tensor.dtype == dtypes.bfloat16 else tensor).numpy().astype(np.float64)


class TinygradBatchNorm(PyTorchArguments, Adapter):
    declared = Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="unbiased",
        no_moving_statistics="track_running_stats=False",
        batch_size_1="raises",
        state_names=ATTRIBUTES,
        weight_order=("weight", "bias", "running_mean", "running_var"),
        half_precision=HalfPrecision(HalfStep("float16", "float16"), HalfStep(refusal="raises")),
    )
    framework_name = "tinygrad"
    size_argument = "sz"
    native_channel_axis = 1

    def native_defaults(self) -> dict:
        default = nn.BatchNorm(self.spec.num_features)
        return {"momentum": default.momentum, "epsilon": default.eps}

    def native_state_names(self) -> tuple:
        names = {id(t): name for name, t in nn.state.get_state_dict(self.layer).items()}
        return tuple(names.get(id(getattr(self.layer, a, None)), "absent") for a in ATTRIBUTES)

    def moving_dtype(self) -> str:
        return NAMES[self.layer.running_mean.dtype.name]

    def _build(self) -> None:
        self.inputs: list[np.ndarray] = []  # the NumPy memory under this layer's input tensors (see to_tensor)
        self.layer = nn.BatchNorm(**{k: v for k, v in self.native.items() if k != "dtype"})
        dtype = DTYPES[self.native["dtype"]]
        for attribute in ATTRIBUTES:
            tensor = getattr(self.layer, attribute, None)
            if tensor is not None and tensor.dtype != dtype:  # the layer is built in float32
                setattr(self.layer, attribute, tensor.cast(dtype).contiguous().realize())

    def _run(self, batch: np.ndarray, training: bool):
        if not hasattr(self, "steps"):
            # One TinyJit per mode: from its third call on it replays the kernels it captured, instead of
            # building, rewriting and scheduling the step's graph again, as tinygrad users run a training step.
            self.steps = {mode: TinyJit(lambda x, mode=mode: self._step(x, mode)) for mode in (True, False)}
        output = self.steps[training](to_tensor(batch, self.native["dtype"], self.inputs))
        return TypedArray(to_numpy(output), NAMES[output.dtype.name])

    def _step(self, x: Tensor, training: bool) -> Tensor:
        with Context(TRAINING=int(training)):
            output = self.layer(x)
            tracked = [getattr(self.layer, a) for a in ("running_mean", "running_var") if getattr(self.layer, a, None) is not None]
            Tensor.realize(output, *tracked)
            return output

    def eager(self):
        """The same steps without TinyJit: every call builds and schedules its graph."""
        return Context(JIT=0)

    def _train(self, batch: np.ndarray):
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray):
        return self._run(batch, training=False)

    def _weight_list(self) -> list[str]:
        """``nn.state.get_state_dict``, in its order."""
        return list(nn.state.get_state_dict(self.layer))

    def _read(self) -> tuple:
        c = self.spec.num_features
        # what a layer without moving statistics (NaN) or without affine parameters holds, made on the
        # host: a tensor made here would be one more graph to schedule and compile on every read
        absent = (np.full(c, np.nan), np.full(c, np.nan), np.ones(c), np.zeros(c))
        values = [getattr(self.layer, a, None) for a in ATTRIBUTES]
        return tuple(to_numpy(v) if v is not None else d for v, d in zip(values, absent))

    def _write(self, state: State) -> None:
        for attribute, value in zip(ATTRIBUTES, state):
            if getattr(self.layer, attribute, None) is not None:  # into the same buffer, which a TinyJit may hold
                getattr(self.layer, attribute).assign(to_tensor(value, self.native["dtype"], self.inputs)).realize()

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The network with ``nn.Linear`` and this layer, one ``nn.optim.Adam`` step, in ``Context(TRAINING=1)``."""
        native = {k: v for k, v in self.native.items() if k not in ("sz", "dtype")}
        dense_1, dense_2 = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
        dense_1.weight, dense_2.weight = Tensor([[float(kernel)]]), Tensor([[float(second_kernel)]])
        bn_1, bn_2 = nn.BatchNorm(1, **native), nn.BatchNorm(1, **native)
        x, y = Tensor(np.asarray(x, np.float32)), Tensor(np.asarray(y, np.float32))
        parameters = [dense_1.weight, bn_1.weight, bn_1.bias, dense_2.weight, bn_2.weight, bn_2.bias]
        with Context(TRAINING=1):
            optimizer = nn.optim.Adam(parameters, lr=learning_rate, eps=1e-8)
            optimizer.zero_grad()
            loss = (bn_2(dense_2(bn_1(dense_1(x)).relu())) - y).square().mean()
            loss.backward()
            optimizer.step()
        values = {"kernel": dense_1.weight, "moving_mean": bn_1.running_mean, "moving_variance": bn_1.running_var,
                  "gamma": bn_1.weight, "beta": bn_1.bias, "bn_1": bn_1(dense_1(x))}
        return {name: value.numpy() for name, value in values.items()}
