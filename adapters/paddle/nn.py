"""PaddlePaddle ``paddle.nn.BatchNorm1D`` and ``BatchNorm2D`` (``python/paddle/nn/layer/norm.py``).

Paddle's ``momentum=m`` weighs the *old* value, as Keras's does (``moving = m * moving + (1 - m)
* batch``, default 0.9), although its layers otherwise look like PyTorch's (channels first,
``_mean``/``_variance`` buffers, ``weight``/``bias``); a PyTorch port that copies ``momentum=0.1``
gets a moving average that barely moves the other way. The CPU kernel
(``paddle/phi/kernels/cpu/batch_norm_kernel.cc``) feeds the biased batch variance to the moving
average and is registered for float32 and float64 only: float16 and bfloat16 are refused by the
framework itself, which the suites record. With one value per channel the same kernel skips the
step ("we skip the batch norm calculation, let y = x"): the output is the input and the moving
statistics stay as they were, where other frameworks normalize to beta or refuse.

Paddle runs in a worker process of its own (kind ``paddle``, ``adapters/worker.py``): with the
pinned versions, importing Paddle in an interpreter that has imported TensorFlow crashes it (a
segmentation fault in ``paddle/base/core.py``), as a serial run of the whole suite would. So this
module imports Paddle only when a verb runs there.

Native arguments that change what happens to the moving statistics and are not cases of the
suites: ``use_global_stats=True`` normalizes training batches with the moving statistics and never
updates them (a frozen layer, which the neutral description has no field for), and
``data_format`` (channels last), which changes the layout, not the statistics. Paddle has no
argument for a cumulative average and none to keep no moving statistics.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace

import numpy as np

from ..base import Adapter, State, TypedArray, dtype_name, exponential_only
from ..conventions import BeyondRange, Conventions, HalfPrecision, HalfStep
from ..spec import BatchNormSpec


@functools.cache
def paddle_module():
    """``paddle``, imported in the worker process that runs this adapter (see the module docstring)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    import paddle

    return paddle


class PaddleBatchNorm1D(Adapter):
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.9,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("_mean", "_variance", "weight", "bias"),
        weight_order=("weight", "bias", "_mean", "_variance"),
        half_precision=HalfPrecision(HalfStep(refusal="raises"), HalfStep(refusal="raises")),
        batch_size_1="passes through",
        # momentum reaches the kernel as a float (float32) attribute: measured, float32(0.9) weighs the old value
        float64_momentum="float32 attributes",
        half_precision_range=BeyondRange(refusal="raises"),
    )
    ndims = (2, 3)
    native_channel_axis = 1
    layer_class = "BatchNorm1D"

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, "Paddle")
        return {  # gamma and beta have a switch each: weight_attr=False, bias_attr=False
            "num_features": spec.num_features,
            "momentum": self.declared.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "weight_attr": None if spec.scale else False,
            "bias_attr": None if spec.center else False,
            "dtype": spec.dtype,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(self.spec, num_features=native["num_features"], decay=self.declared.decay_of(native["momentum"]),
                       epsilon=native["epsilon"], center=native["bias_attr"] is not False, scale=native["weight_attr"] is not False,
                       dtype=native["dtype"], averaging="exponential")

    def native_defaults(self) -> dict:
        paddle = paddle_module()
        default = getattr(paddle.nn, self.layer_class)(self.spec.num_features)
        return {"momentum": default._momentum, "epsilon": default._epsilon}

    def native_state_names(self) -> tuple:
        layer = self.layer
        names = {id(t): name for name, t in layer.state_dict().items()}
        return tuple(names.get(id(t), "absent") if t is not None else "absent"
                     for t in (layer._mean, layer._variance, layer.weight, layer.bias))

    def moving_dtype(self) -> str:
        return dtype_name(self.layer._mean.dtype)

    def _build(self) -> None:
        paddle = paddle_module()
        arguments = {k: v for k, v in self.native.items() if k != "dtype"}
        self.layer = getattr(paddle.nn, self.layer_class)(**arguments)
        if self.native["dtype"] != "float32":
            self.layer.to(dtype=self.native["dtype"])

    def _run(self, batch: np.ndarray, training: bool):
        paddle = paddle_module()
        self.layer.train() if training else self.layer.eval()
        with paddle.no_grad():
            output = self.layer(paddle.to_tensor(batch).astype(self.native["dtype"]))
        return TypedArray(output.astype("float64").numpy(), dtype_name(output.dtype))

    def _train(self, batch: np.ndarray):
        return self._run(batch, training=True)

    def _infer(self, batch: np.ndarray):
        return self._run(batch, training=False)

    def _weight_list(self) -> list[str]:
        """``state_dict()``, in its order."""
        return list(self.layer.state_dict())

    def _read(self) -> tuple:
        paddle = paddle_module()
        layer, c = self.layer, self.spec.num_features
        gamma = layer.weight if layer.weight is not None else paddle.ones([c])
        beta = layer.bias if layer.bias is not None else paddle.zeros([c])
        return tuple(t.astype("float64").numpy() for t in (layer._mean, layer._variance, gamma, beta))

    def _write(self, state: State) -> None:
        layer = self.layer
        pairs = [(layer._mean, state.mean), (layer._variance, state.variance), (layer.weight, state.gamma), (layer.bias, state.beta)]
        for tensor, value in pairs:
            if tensor is not None:
                tensor.set_value(value.astype(self.native["dtype"]))

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The network with ``paddle.nn.Linear`` and this layer, one ``paddle.optimizer.Adam`` step."""
        paddle = paddle_module()
        norm = getattr(paddle.nn, self.layer_class)
        native = {k: v for k, v in self.native.items() if k not in ("num_features", "dtype")}
        constant = paddle.nn.initializer.Constant
        dense_1 = paddle.nn.Linear(1, 1, weight_attr=paddle.ParamAttr(initializer=constant(kernel)), bias_attr=False)
        dense_2 = paddle.nn.Linear(1, 1, weight_attr=paddle.ParamAttr(initializer=constant(second_kernel)), bias_attr=False)
        bn_1, bn_2 = norm(1, **native), norm(1, **native)
        lift = [1] * ((self.native_ndim or 2) - 2)  # BatchNorm2D wants (N, 1, 1, 1)

        def through(layer, h):
            return layer(h.reshape([-1, 1] + lift)).reshape([-1, 1])

        model = paddle.nn.LayerList([dense_1, bn_1, dense_2, bn_2])
        optimizer = paddle.optimizer.Adam(learning_rate=learning_rate, epsilon=1e-8, parameters=model.parameters())
        x, y = (paddle.to_tensor(np.asarray(v, np.float32)) for v in (x, y))
        model.train()
        loss = ((through(bn_2, dense_2(paddle.nn.functional.relu(through(bn_1, dense_1(x))))) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        model.eval()
        with paddle.no_grad():
            bn_1_output = through(bn_1, dense_1(x))
        values = {"kernel": dense_1.weight, "moving_mean": bn_1._mean, "moving_variance": bn_1._variance,
                  "gamma": bn_1.weight, "beta": bn_1.bias, "bn_1": bn_1_output}
        return {name: value.numpy() for name, value in values.items()}


class PaddleBatchNorm2D(PaddleBatchNorm1D):
    """``paddle.nn.BatchNorm2D`` on channels-first 4-D batches; lower ranks get singleton spatial axes."""

    ndims = (2, 3, 4)
    native_ndim = 4
    layer_class = "BatchNorm2D"
