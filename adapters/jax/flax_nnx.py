"""Flax NNX ``nnx.BatchNorm``: the linen conventions on a stateful object.

The layer owns its ``mean`` and ``var`` (``nnx.BatchStat``) and updates them in place when called
with ``use_running_average=False``; the numbers follow linen's: momentum weighs the old value,
epsilon defaults to 1e-5, and the variance is computed in one pass unless
``use_fast_variance=False``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..base import State, dtype_name
from .compiled import device_array, leaf_names
from .flax_linen import FLAX, FlaxLinenBatchNorm


@partial(jax.jit, static_argnames=("graphdef", "train"))
def call(graphdef, state, x, *, train):
    """The layer, rebuilt from NNX's functional split inside the trace, called once; returns its new state."""
    layer = nnx.merge(graphdef, state)
    output = layer(x, use_running_average=not train)
    return output, nnx.state(layer)


class FlaxNnxBatchNorm(FlaxLinenBatchNorm):
    declared = replace(FLAX, weight_order=("bias", "mean", "scale", "var"))  # nnx.state lists its variables by name

    def native_arguments(self) -> dict:
        return {"num_features": self.spec.num_features, **super().native_arguments()}

    def spec_from_native(self, native: dict):
        return replace(super().spec_from_native(native), num_features=native["num_features"])

    def native_defaults(self) -> dict:
        default = nnx.BatchNorm(self.spec.num_features, rngs=nnx.Rngs(0))
        return {"momentum": default.momentum, "epsilon": default.epsilon}

    def native_state_names(self) -> tuple:
        return tuple(name if getattr(self.layer, name, None) is not None else "absent" for name in ("mean", "var", "scale", "bias"))

    def moving_dtype(self) -> str:
        return dtype_name(self.layer.mean[...].dtype)

    def _build(self) -> None:
        native = dict(self.native, dtype=jnp.dtype(self.native["dtype"]))
        self.layer = nnx.BatchNorm(**native, rngs=nnx.Rngs(0))
        # Momentum and epsilon become data (NNX's own switch, ``nnx.data``), weakly typed like the
        # Python floats they were: traced by the jitted call, so a new decay does not recompile.
        self.layer.momentum = nnx.data(jax.device_put(float(native["momentum"])))
        self.layer.epsilon = nnx.data(jax.device_put(float(native["epsilon"])))

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        import optax

        native, rngs = dict(self.native, num_features=1, dtype=jnp.dtype(self.native["dtype"])), nnx.Rngs(0)

        class Network(nnx.Module):
            def __init__(self):
                self.dense_1 = nnx.Linear(1, 1, use_bias=False, kernel_init=nnx.initializers.constant(kernel), rngs=rngs)
                self.bn_1 = nnx.BatchNorm(**native, rngs=rngs)
                self.dense_2 = nnx.Linear(1, 1, use_bias=False, kernel_init=nnx.initializers.constant(second_kernel), rngs=rngs)
                self.bn_2 = nnx.BatchNorm(**native, rngs=rngs)

            def __call__(self, x, train):
                mode = {"use_running_average": not train}
                return self.bn_2(self.dense_2(nnx.relu(self.bn_1(self.dense_1(x), **mode))), **mode)

        network, x, y = Network(), device_array(x, "float32"), device_array(y, "float32")
        # the Adam of jax_adam.first_adam_updates, through NNX's own Optimizer
        optimizer = nnx.Optimizer(network, optax.adam(learning_rate, eps=1e-8), wrt=nnx.Param)

        @nnx.jit
        def train(network, optimizer):  # one step, compiled as NNX's training loops are
            grads = nnx.grad(lambda model: jnp.mean((model(x, train=True) - y) ** 2))(network)
            optimizer.update(network, grads)

        train(network, optimizer)
        bn_1 = network.bn_1
        values = {"kernel": network.dense_1.kernel[...], "moving_mean": bn_1.mean[...], "moving_variance": bn_1.var[...],
                  "gamma": bn_1.scale[...], "beta": bn_1.bias[...], "bn_1": bn_1(network.dense_1(x), use_running_average=True)}
        return values

    def _call(self, batch: np.ndarray, train: bool) -> np.ndarray:
        graphdef, state = nnx.split(self.layer)
        output, state = call(graphdef, state, device_array(batch, self.spec.dtype), train=train)
        nnx.update(self.layer, state)
        return np.asarray(output)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        return self._call(batch, train=True)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._call(batch, train=False)

    def _weight_list(self) -> list[str]:
        """``nnx.state(layer)``'s leaves, as ``jax.tree_util`` flattens them."""
        return leaf_names(nnx.state(self.layer))

    def _read(self) -> tuple:
        layer, c = self.layer, self.spec.num_features
        gamma = layer.scale[...] if layer.scale is not None else np.ones(c)
        beta = layer.bias[...] if layer.bias is not None else np.zeros(c)
        return layer.mean[...], layer.var[...], gamma, beta

    def _write(self, state: State) -> None:
        layer = self.layer
        for name, value in zip(("mean", "var", "scale", "bias"), state):
            variable = getattr(layer, name, None)
            if variable is not None:
                variable[...] = device_array(value, variable[...].dtype)
