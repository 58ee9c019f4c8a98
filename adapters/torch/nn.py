"""PyTorch ``torch.nn.BatchNorm1d``: momentum weighs the *new* value, the running variance is unbiased.

PyTorch's ``momentum=m`` updates ``running = (1 - m) * running + m * batch``, the inverse of
Keras's, so ``momentum=0.1`` here is ``momentum=0.9`` there. The batch is normalized with the
biased variance, but ``running_var`` receives the unbiased one (n/(n-1) times it), which is why a
ported model's moving variance drifts from Keras's at small batches. ``momentum=None`` asks for a
cumulative average, one of the few conventions with a native argument only here.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import Adapter, State, dtype_name
from ..conventions import BeyondRange, Conventions, HalfPrecision
from ..pytorch_style import PyTorchArguments

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


class TorchBatchNorm(PyTorchArguments, Adapter):
    declared = Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="unbiased",
        state_names=("running_mean", "running_var", "weight", "bias"),
        weight_order=("weight", "bias", "running_mean", "running_var"),
        cumulative_average="momentum=None",
        no_moving_statistics="track_running_stats=False",
        batch_size_1="raises",
        half_precision=HalfPrecision.moving_in("input"),
        half_precision_range=BeyondRange(outputs="±1", stores="inf"),
    )
    ndims = (2, 3)
    native_channel_axis = 1
    momentum_none_is_cumulative = True
    #: The torch.nn module class: BatchNorm1d takes (N, C) and (N, C, L), BatchNorm2d (N, C, H, W).
    module_class = "BatchNorm1d"

    def native_dtype(self, dtype: str):
        return DTYPES[dtype]

    def native_defaults(self) -> dict:
        default = getattr(torch.nn, self.module_class)(self.spec.num_features)
        return {"momentum": default.momentum, "epsilon": default.eps}

    def native_state_names(self) -> tuple:
        m = self.module
        names = {id(t): name for name, t in m.state_dict(keep_vars=True).items()}
        return tuple(names.get(id(t), "absent") for t in (m.running_mean, m.running_var, m.weight, m.bias))

    def moving_dtype(self) -> str:
        return dtype_name(self.module.running_mean.dtype)

    def _build(self) -> None:
        self.module = getattr(torch.nn, self.module_class)(**self.native)

    def _run(self, batch: np.ndarray, training: bool) -> torch.Tensor:
        self.module.train(training)
        with torch.no_grad():
            return self.module(torch.from_numpy(batch).to(self.native["dtype"]))

    def _from_native(self, output: torch.Tensor) -> np.ndarray:
        return super()._from_native(output.to(torch.float64).numpy())

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        norm = getattr(torch.nn, self.module_class)
        native = {k: v for k, v in self.native.items() if k not in ("num_features", "dtype")}
        dense_1, dense_2 = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
        bn_1, bn_2 = norm(1, **native), norm(1, **native)
        with torch.no_grad():
            dense_1.weight.fill_(kernel)
            dense_2.weight.fill_(second_kernel)
        lift = (1,) * ((self.native_ndim or 2) - 2)  # BatchNorm2d wants (N, 1, 1, 1)

        def through(norm_layer, h):
            return norm_layer(h.reshape(h.shape + lift)).reshape(h.shape)

        x, y = (torch.tensor(v, dtype=torch.float32) for v in (x, y))
        layers = torch.nn.ModuleList([dense_1, bn_1, dense_2, bn_2])
        optimizer = torch.optim.Adam(layers.parameters(), lr=learning_rate, eps=1e-8)
        pred = through(bn_2, dense_2(torch.relu(through(bn_1, dense_1(x)))))
        loss = ((pred - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        layers.eval()
        with torch.no_grad():
            bn_1_output = through(bn_1, dense_1(x))
        values = {
            "kernel": dense_1.weight, "moving_mean": bn_1.running_mean, "moving_variance": bn_1.running_var,
            "gamma": bn_1.weight, "beta": bn_1.bias, "bn_1": bn_1_output,
        }
        return {name: value.detach() for name, value in values.items()}

    def _train(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, training=False)

    def _weight_list(self) -> list[str]:
        """``state_dict()``, in its order."""
        return list(self.module.state_dict())

    def _read(self) -> tuple:
        m = self.module
        ones = torch.ones(self.spec.num_features)
        gamma = m.weight if m.affine else ones
        beta = m.bias if m.affine else torch.zeros_like(ones)
        untracked = torch.full_like(ones, float("nan"))  # track_running_stats=False keeps no buffers
        running = [untracked if t is None else t for t in (m.running_mean, m.running_var)]
        return tuple(t.detach().to(torch.float64).numpy() for t in (*running, gamma, beta))

    def _write(self, state: State) -> None:
        m = self.module
        pairs = [(m.running_mean, state.mean), (m.running_var, state.variance)] if m.track_running_stats else []
        if m.affine:
            pairs += [(m.weight, state.gamma), (m.bias, state.beta)]
        with torch.no_grad():
            for tensor, value in pairs:
                tensor.copy_(torch.from_numpy(value))


class TorchBatchNorm2d(TorchBatchNorm):
    """``torch.nn.BatchNorm2d``: the same conventions as BatchNorm1d on channels-first 4-D batches.

    Lower-rank batches get singleton spatial axes, (N, C) -> (N, C, 1, 1), which change no statistic.
    """

    ndims = (2, 3, 4)
    native_ndim = 4
    module_class = "BatchNorm2d"
