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
from dataclasses import replace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .base import Adapter, State, exponential_only, dtype_name
from .conventions import Conventions
from .spec import BatchNormSpec, SpecError

AXIS_NAME = "batch"


@eqx.filter_jit
def batched_call(model, state, x, inference):
    """The layer over a batch: ``vmap`` supplies the batch axis its ``axis_name`` reduces over.

    Compiled, because op-by-op ``vmap`` costs ~14 ms a step; the compiled call is cached on the
    layer's static fields (momentum, epsilon, mode) and the batch's shape, and shared by every layer.
    """
    return jax.vmap(lambda xi, s: model(xi, s, inference=inference), axis_name=AXIS_NAME, in_axes=(0, None), out_axes=(0, None))(x, state)


class EquinoxEmaBatchNorm(Adapter):
    id = "jax-equinox_ema"
    mode = "ema"
    declared = Conventions(
        momentum_weight="old",
        default_momentum=0.99,
        default_epsilon=1e-5,
        train_normalize_variance="moving statistics",
        moving_variance_update="biased",
        state_names=("ema_state_index[0]", "ema_state_index[1]", "weight", "bias"),
        initial_variance=0.0,
        first_step="copy",
        half_precision="float16: output float16, moving float16; bfloat16: output bfloat16, moving bfloat16",
    )
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch
    native_channel_axis = 1  # (N, C, ...): vmap over N, the layer sees (C, ...)

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
        return batched_call(self.model, self.state_, jnp.asarray(batch, self.spec.dtype), inference)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        from .jax_adam import first_adam_updates

        native = dict(self.native, input_size=1, dtype=jnp.dtype(self.native["dtype"]))

        def dense(value):
            layer = eqx.nn.Linear(1, 1, use_bias=False, key=jax.random.key(0))
            return eqx.tree_at(lambda m: m.weight, layer, jnp.full((1, 1), value, jnp.float32))

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
        x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

        def run(network, state, inference):
            return jax.vmap(lambda xi, s: network(xi, s, inference), axis_name=AXIS_NAME, in_axes=(0, None), out_axes=(0, None))(x, state)

        @eqx.filter_grad(has_aux=True)
        def grads_of(network, state):
            (pred, _), state = run(network, state, False)
            return jnp.mean((pred - y) ** 2), state

        grads, state = grads_of(network, state)
        trainable = eqx.filter(network, eqx.is_inexact_array)
        network = eqx.apply_updates(network, first_adam_updates(grads, trainable, learning_rate))
        (_, bn_1), _ = run(network, state, True)
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

    def _set_moving(self, mean, var) -> None:
        self.state_ = self.state_.set(self.model.ema_state_index, (mean, var))

    def _read(self) -> tuple:
        model, c = self.model, self.spec.num_features
        affine = (model.weight, model.bias) if model.weight is not None else (np.ones(c), np.zeros(c))
        return (*self._moving(), *affine)

    def _write(self, state: State) -> None:
        dtype = self._moving()[0].dtype
        self._set_moving(jnp.asarray(state.mean, dtype), jnp.asarray(state.variance, dtype))
        if self.model.weight is not None:
            weight, bias = (jnp.asarray(v, self.model.weight.dtype) for v in (state.gamma, state.beta))
            self.model = eqx.tree_at(lambda m: (m.weight, m.bias), self.model, (weight, bias))


class EquinoxBatchBatchNorm(EquinoxEmaBatchNorm):
    id = "jax-equinox_batch"
    mode = "batch"
    declared = replace(
        EquinoxEmaBatchNorm.declared,
        train_normalize_variance="biased",
        state_names=("batch_state_index[0]", "batch_state_index[1]", "weight", "bias"),
        initial_variance=1.0,
        first_step="debiased",
    )

    def _debias(self):
        counter = self.state_.get(self.model.batch_counter)
        return jnp.where(counter == 0, 1, 1 - self.model.momentum**counter)

    def _moving(self) -> tuple:
        """What inference normalizes with: the hidden averages divided by 1 - momentum**t."""
        hidden_mean, hidden_var = self.state_.get(self.model.batch_state_index)
        scale = self._debias()
        return hidden_mean / scale, hidden_var / scale

    def _set_moving(self, mean, var) -> None:
        scale = self._debias()
        self.state_ = self.state_.set(self.model.batch_state_index, ((mean * scale).astype(mean.dtype), (var * scale).astype(var.dtype)))
