"""Equinox ``eqx.nn.BatchNorm``, in each of its two modes.

``mode="ema"`` copies the first batch's statistics (its buffers start uninitialized) and blends
later ones with ``momentum`` weighing the old value, and it normalizes a *training* batch with those
just-updated moving statistics rather than the batch's own. ``mode="batch"`` normalizes with the
batch and keeps a hidden average that starts at mean 0, variance 1, read through zero-debiasing
(divided by 1 - momentum**t), so the initial variance of 1 is divided too: after one step the
moving variance is the batch's plus momentum / (1 - momentum).

The layer sees one example at a time, ``(C, ...)``; the batch axis comes from ``jax.vmap`` with
the layer's ``axis_name``.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..base import Adapter, State, dtype_name, exponential_only
from ..conventions import Conventions, HalfPrecision
from ..spec import BatchNormSpec, SpecError
from .compiled import JitCompiled, device_array, static

AXIS_NAME = "batch"


@partial(jax.jit, static_argnames=("config", "inference"))
def batched_call(affine, state, x, momentum, eps, *, config, inference):
    """``eqx.nn.BatchNorm(**config, momentum=momentum, eps=eps)`` over a batch, jitted.

    ``vmap`` supplies the batch axis the layer's ``axis_name`` reduces over. Equinox declares
    momentum and eps static fields and warns when an array is set as one, because an array in a
    module's static structure breaks when the module crosses a ``jit`` boundary. Here the layer is
    built inside the trace, given its ``affine`` (weight, bias) or None, and never leaves it, so
    momentum and eps are traced values and every decay shares the program compiled for a
    configuration, shape and dtype. Under ``jax.disable_jit`` they stay Python floats: the eager
    twin is exactly the layer a user builds.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A JAX array is being set as static")
        native = dict(config, momentum=momentum, eps=eps)
        model, _ = eqx.nn.make_with_state(eqx.nn.BatchNorm)(**native)
    if affine is not None:
        model = eqx.tree_at(lambda m: (m.weight, m.bias), model, affine)
    return jax.vmap(lambda xi, s: model(xi, s, inference=inference), axis_name=AXIS_NAME, in_axes=(0, None), out_axes=(0, None))(x, state)


def debias_scale(momentum: float, counter: int) -> float:
    """What ``mode="batch"`` divides its hidden averages by before inference reads them: Equinox's
    1 - momentum**t (1 before any step), computed on the host (on the device each t would compile)."""
    return 1.0 if counter == 0 else 1 - momentum**counter


class EquinoxEmaBatchNorm(JitCompiled, Adapter):
    mode = "ema"
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.99,
        default_epsilon=1e-5,
        train_normalize_variance="moving statistics",
        moving_variance_update="biased",
        state_names=("ema_state_index[0]", "ema_state_index[1]", "weight", "bias"),
        weight_order=("weight", "bias", "ema_state_index[0]", "ema_state_index[1]"),
        initial_variance=0.0,
        first_step="copy",
        half_precision=HalfPrecision.moving_in("input"),
        float64_momentum="no float64",
    )
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch
    native_channel_axis = 1  # (N, C, ...): vmap over N, the layer sees (C, ...)
    epsilon_argument = "eps"

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, "Equinox")
        if spec.center != spec.scale:
            raise SpecError("center/scale", (spec.center, spec.scale),
                            "must be equal for Equinox, whose single `channelwise_affine` switch adds gamma and beta together")
        return {
            "input_size": spec.num_features,
            "axis_name": AXIS_NAME,
            "eps": spec.epsilon,
            "channelwise_affine": spec.scale,
            "momentum": self.declared.native_momentum(spec.decay),
            "mode": self.mode,
            "dtype": spec.dtype,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(
            self.spec,
            num_features=native["input_size"],
            epsilon=native["eps"],
            center=native["channelwise_affine"],
            scale=native["channelwise_affine"],
            decay=self.declared.decay_of(native["momentum"]),
            dtype=native["dtype"],
            averaging="exponential",
        )

    def native_defaults(self) -> dict:
        default = eqx.nn.BatchNorm(self.spec.num_features, AXIS_NAME, mode=self.mode)
        return {"momentum": default.momentum, "epsilon": default.eps}

    def native_state_names(self) -> tuple:
        model = self.model
        index = "ema_state_index" if self.mode == "ema" else "batch_state_index"
        affine = ("weight", "bias") if model.weight is not None else ("absent", "absent")
        return (f"{index}[0]", f"{index}[1]") + affine

    def moving_dtype(self) -> str:
        return dtype_name(self._moving()[0].dtype)

    def _build(self) -> None:
        native = dict(self.native, dtype=jnp.dtype(self.native["dtype"]))
        self.model, self.state_ = eqx.nn.make_with_state(eqx.nn.BatchNorm)(**native)

    def _call(self, batch: np.ndarray, inference: bool):
        native = self.native
        affine = (self.model.weight, self.model.bias) if self.model.weight is not None else None
        return batched_call(affine, self.state_, device_array(batch, self.spec.dtype), float(native["momentum"]), float(native["eps"]),
                            config=static(native, "momentum", "eps"), inference=inference)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        from .adam import first_adam_updates

        native = dict(self.native, input_size=1, dtype=jnp.dtype(self.native["dtype"]))

        def dense(value):
            layer = eqx.nn.Linear(1, 1, use_bias=False, key=jax.random.key(0))
            return eqx.tree_at(lambda m: m.weight, layer, device_array(np.full((1, 1), value), "float32"))

        class Network(eqx.Module):
            dense_1: eqx.nn.Linear
            bn_1: eqx.nn.BatchNorm
            dense_2: eqx.nn.Linear
            bn_2: eqx.nn.BatchNorm

            def __init__(self):
                self.dense_1, self.dense_2 = dense(kernel), dense(second_kernel)
                self.bn_1, self.bn_2 = eqx.nn.BatchNorm(**native), eqx.nn.BatchNorm(**native)

            def __call__(self, x, state, inference):
                bn_1, state = self.bn_1(self.dense_1(x), state, inference=inference)
                pred, state = self.bn_2(self.dense_2(jax.nn.relu(bn_1)), state, inference=inference)
                return (pred, bn_1), state

        network, state = eqx.nn.make_with_state(Network)()
        x, y = device_array(x, "float32"), device_array(y, "float32")

        def run(network, state, inference):
            return jax.vmap(lambda xi, s: network(xi, s, inference), axis_name=AXIS_NAME, in_axes=(0, None), out_axes=(0, None))(x, state)

        @eqx.filter_grad(has_aux=True)
        def grads_of(network, state):
            (pred, _), state = run(network, state, False)
            return jnp.mean((pred - y) ** 2), state

        @eqx.filter_jit
        def train(network, state):  # one step and the read-back, compiled as Equinox's training loops are
            grads, state = grads_of(network, state)
            trainable = eqx.filter(network, eqx.is_inexact_array)
            network = eqx.apply_updates(network, first_adam_updates(grads, trainable, learning_rate))
            (_, bn_1), _ = run(network, state, True)
            return network, state, bn_1

        network, state, bn_1 = train(network, state)
        adapter = copy.copy(self)
        adapter.model, adapter.state_ = network.bn_1, state
        mean, variance = adapter._moving()
        values = {"kernel": network.dense_1.weight, "moving_mean": mean, "moving_variance": variance,
                  "gamma": network.bn_1.weight, "beta": network.bn_1.bias, "bn_1": bn_1}
        return values

    def _train(self, batch: np.ndarray) -> np.ndarray:
        output, self.state_ = self._call(batch, inference=False)
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._call(batch, inference=True)[0])

    def _moving(self) -> tuple:
        """What inference normalizes with: the buffers themselves."""
        return self.state_.get(self.model.ema_state_index)

    def _set_moving(self, mean: np.ndarray, var: np.ndarray, dtype) -> None:
        self.state_ = self.state_.set(self.model.ema_state_index, (device_array(mean, dtype), device_array(var, dtype)))

    def _weight_list(self) -> list[str]:
        """The leaves of ``(model, state)``, as ``jax.tree_util`` flattens them, named as ``native_state_names``."""
        index = self.model.ema_state_index if self.mode == "ema" else self.model.batch_state_index
        buffers = (*self.state_.get(index), self.model.weight, self.model.bias)
        names = dict(zip(map(id, buffers), self.native_state_names()))
        return [names[id(leaf)] for leaf in jax.tree_util.tree_leaves((self.model, self.state_)) if id(leaf) in names]

    def _read(self) -> tuple:
        model, c = self.model, self.spec.num_features
        affine = (model.weight, model.bias) if model.weight is not None else (np.ones(c), np.zeros(c))
        return (*self._moving(), *affine)

    def _write(self, state: State) -> None:
        dtype = self._moving()[0].dtype
        self._set_moving(state.mean, state.variance, dtype)
        if self.model.weight is not None:
            weight, bias = (device_array(v, self.model.weight.dtype) for v in (state.gamma, state.beta))
            self.model = eqx.tree_at(lambda m: (m.weight, m.bias), self.model, (weight, bias))


class EquinoxBatchBatchNorm(EquinoxEmaBatchNorm):
    mode = "batch"
    declared = replace(
        EquinoxEmaBatchNorm.declared,
        train_normalize_variance="biased",
        state_names=("batch_state_index[0]", "batch_state_index[1]", "weight", "bias"),
        weight_order=("weight", "bias", "batch_state_index[0]", "batch_state_index[1]"),
        initial_variance=1.0,
        first_step="debiased",
    )

    def _debias(self) -> float:
        return debias_scale(self.model.momentum, int(self.state_.get(self.model.batch_counter)))

    def _moving(self) -> tuple:
        """What inference normalizes with: the hidden averages divided by 1 - momentum**t, in their dtype."""
        hidden, scale = [np.asarray(h) for h in self.state_.get(self.model.batch_state_index)], self._debias()
        with np.errstate(divide="ignore", invalid="ignore"):  # momentum 1 divides by 0, as Equinox does
            return tuple(h / np.asarray(scale, h.dtype) for h in hidden)

    def _set_moving(self, mean: np.ndarray, var: np.ndarray, dtype) -> None:
        scale = self._debias()
        self.state_ = self.state_.set(self.model.batch_state_index, (device_array(mean * scale, dtype), device_array(var * scale, dtype)))
