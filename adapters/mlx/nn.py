"""MLX ``mlx.nn.BatchNorm`` (``python/mlx/nn/layers/normalization.py``), on the Linux CPU build.

MLX follows PyTorch's vocabulary: ``momentum=m`` weighs the *new* value (``running = (1 - m) *
running + m * batch``, default 0.1), default epsilon 1e-5, channels last only, ranks 2 to 4,
``track_running_stats=False`` to keep no moving statistics. Two of its conventions depend on the
installed version, and are declared per version (``declared_for``):

- up to 0.32.0 the running variance receives the *biased* batch variance, and one value per
  channel trains (to beta, with a zero variance);
- from 0.32.1 (ml-explore/mlx PR #3817, "to match PyTorch") it receives the *unbiased* one, and
  one value per channel raises ("BatchNorm training requires more than one value per channel").

Half precision is run as MLX users run it, ``model.set_dtype(...)``, which also casts the moving
statistics. ``mlx.optimizers.Adam`` defaults to ``bias_correction=False``, unlike every other
framework's Adam: its first step moves a parameter by ~3.2 learning rates, not one. The founding
question's network passes ``bias_correction=True`` to take the question's step; a port that keeps
MLX's default trains differently from the first step on.
"""

from __future__ import annotations

import importlib.metadata
import itertools

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optimizers
import numpy as np

from ..base import Adapter, State, dtype_name
from ..conventions import Conventions, HalfPrecision
from ..pytorch_style import PyTorchArguments
from ..spec import SpecError

DTYPES = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float32": mx.float32, "float64": mx.float64}
#: The layer's attributes holding moving mean, moving variance, gamma and beta, which are also their names.
ATTRIBUTES = ("running_mean", "running_var", "weight", "bias")
#: The first release whose running variance is unbiased and which refuses one value per channel.
UNBIASED_FROM = (0, 32, 1)


def release(version: str) -> tuple[int, ...]:
    """'0.32.4' -> (0, 32, 4): the leading digits of the first three parts (0.33.0rc1 -> (0, 33, 0))."""
    return tuple(int("".join(itertools.takewhile(str.isdigit, part)) or 0) for part in version.split(".")[:3])


def declared_for(version: str) -> Conventions:
    """MLX's conventions in release ``version`` (see the module docstring)."""
    unbiased = release(version) >= UNBIASED_FROM
    return Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="unbiased" if unbiased else "biased",
        batch_size_1="raises" if unbiased else "runs: variance 0",
        no_moving_statistics="track_running_stats=False",
        state_names=ATTRIBUTES,
        weight_order=("weight", "bias", "running_mean", "running_var"),
        half_precision=HalfPrecision.moving_in("input"),
    )



def to_mlx(values: np.ndarray, dtype: str) -> mx.array:
    """``values`` as an MLX array of ``dtype``, converted once: ``mx.array`` of a float64 NumPy array
    is float32 unless told otherwise, so ``mx.array(values).astype(mx.float64)`` would hand a float64
    layer float32-rounded numbers (the property suite measured it: a moving mean off by 1e-8)."""
    return mx.array(values, dtype=DTYPES[dtype])

class MlxBatchNorm(PyTorchArguments, Adapter):
    declared = declared_for(importlib.metadata.version("mlx"))
    framework_name = "MLX"
    ndims = (2, 3, 4)
    native_channel_axis = -1

    def native_arguments(self) -> dict:
        if self.spec.epsilon <= 0:
            raise SpecError("epsilon", self.spec.epsilon, "must be positive for MLX, whose BatchNorm refuses eps <= 0")
        return super().native_arguments()

    def native_defaults(self) -> dict:
        default = nn.BatchNorm(self.spec.num_features)
        return {"momentum": default.momentum, "epsilon": default.eps}

    def native_state_names(self) -> tuple:
        layer = self.layer
        names = {id(value): name for name, value in layer.parameters().items()}
        return tuple(names.get(id(getattr(layer, attribute, None)), "absent")
                     for attribute in ATTRIBUTES)

    def moving_dtype(self) -> str:
        return dtype_name(self.layer.running_mean.dtype)

    def _build(self) -> None:
        self.layer = nn.BatchNorm(**{k: v for k, v in self.native.items() if k != "dtype"})
        if self.native["dtype"] != "float32":
            self.layer.set_dtype(DTYPES[self.native["dtype"]])

    def _run(self, batch: np.ndarray, training: bool):
        self.layer.train(training)
        output = self.layer(to_mlx(batch, self.native["dtype"]))
        mx.eval(output, self.layer.parameters())
        return output

    def _train(self, batch: np.ndarray):
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray):
        return self._run(batch, training=False)

    def _from_native(self, output) -> np.ndarray:
        return super()._from_native(np.array(output.astype(mx.float64)))

    def _weight_list(self) -> list[str]:
        """``tree_flatten(parameters())``, the order ``save_weights`` writes."""
        from mlx.utils import tree_flatten

        return [name for name, _ in tree_flatten(self.layer.parameters())]

    def _read(self) -> tuple:
        layer, c = self.layer, self.spec.num_features
        nan = mx.full((c,), float("nan"))  # track_running_stats=False keeps no moving statistics
        values = (getattr(layer, "running_mean", nan), getattr(layer, "running_var", nan),
                  getattr(layer, "weight", mx.ones((c,))), getattr(layer, "bias", mx.zeros((c,))))
        return tuple(np.array(v.astype(mx.float64)) for v in values)

    def _write(self, state: State) -> None:
        layer = self.layer
        for attribute, value in zip(ATTRIBUTES, state):
            if hasattr(layer, attribute):
                setattr(layer, attribute, to_mlx(value, self.native["dtype"]))

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The network as an ``mlx.nn`` model, one ``mlx.optimizers.Adam`` step (bias-corrected,
        as the question's Adam is) through ``nn.value_and_grad``."""
        native = {k: v for k, v in self.native.items() if k not in ("num_features", "dtype")}

        class Network(nn.Module):
            def __init__(self):
                super().__init__()
                self.dense_1, self.dense_2 = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
                self.dense_1.weight = mx.full((1, 1), kernel)
                self.dense_2.weight = mx.full((1, 1), second_kernel)
                self.bn_1, self.bn_2 = nn.BatchNorm(1, **native), nn.BatchNorm(1, **native)

            def __call__(self, inputs):
                return self.bn_2(self.dense_2(nn.relu(self.bn_1(self.dense_1(inputs)))))

        model = Network()
        x, y = mx.array(np.asarray(x, np.float32)), mx.array(np.asarray(y, np.float32))
        optimizer = optimizers.Adam(learning_rate=learning_rate, eps=1e-8, bias_correction=True)
        model.train()
        _, gradients = nn.value_and_grad(model, lambda m, a, b: mx.mean(mx.square(m(a) - b)))(model, x, y)
        optimizer.update(model, gradients)
        model.eval()
        bn_1_output = model.bn_1(model.dense_1(x))
        values = {"kernel": model.dense_1.weight, "moving_mean": model.bn_1.running_mean,
                  "moving_variance": model.bn_1.running_var, "gamma": model.bn_1.weight, "beta": model.bn_1.bias,
                  "bn_1": bn_1_output}
        mx.eval(values)
        return {name: np.array(value) for name, value in values.items()}
