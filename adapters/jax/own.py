"""bnparity's own BatchNorm in JAX: pure functions that follow any declared convention.

It exists to show that every difference in the matrix is a choice, not a necessity: given the
conventions of PyTorch or of Keras it reproduces their moving statistics exactly. The training
step is one ``jax.jit`` function shared by every layer. Momentum, epsilon, the step count and
even the convention's rules are traced values; only the batch's shape, dtype and reduced axes are
static, so a layer that meets a shape already seen, under any convention, reuses the compiled
step.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..base import Adapter, AdapterError, State, dtype_name
from ..conventions import BeyondRange, Conventions
from ..spec import BatchNormSpec, SpecError
from .compiled import JitCompiled, device_array, leaf_names

#: The conventions the own implementation can be told to follow, by name.
PRESETS = {
    # TensorFlow/Keras: momentum weighs the old value, the moving variance is biased.
    "old-weight-biased": Conventions(
        momentum_weight="old",
        default_momentum=0.99,
        default_epsilon=1e-3,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("mean", "var", "gamma", "beta"),
        weight_order=("beta", "gamma", "mean", "var"),
        cumulative_average="averaging='cumulative'",
        float64_momentum="no float64",
        half_precision_range=BeyondRange(outputs="±1", stores="it"),
    ),
    # PyTorch: momentum weighs the new value, the moving variance is unbiased.
    "new-weight-unbiased": Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="unbiased",
        state_names=("mean", "var", "gamma", "beta"),
        weight_order=("beta", "gamma", "mean", "var"),
        cumulative_average="averaging='cumulative'",
        float64_momentum="no float64",
        half_precision_range=BeyondRange(outputs="±1", stores="it"),
        batch_size_1="runs: variance NaN",  # 0 · n/(n - 1) at n = 1
    ),
}

HALF = (jnp.float16, jnp.bfloat16)
FIRST_STEP_CODES = {"blend": 0, "copy": 1, "debiased": 2}


def rules_of(conventions: Conventions, averaging: str) -> dict[str, jax.Array]:
    """The convention as traced scalars: following another convention never recompiles."""
    return {
        "normalize_unbiased": jnp.bool_(conventions.train_normalize_variance == "unbiased"),
        "update_unbiased": jnp.bool_(conventions.moving_variance_update == "unbiased"),
        "first_step": jnp.int32(FIRST_STEP_CODES[conventions.first_step]),
        "cumulative": jnp.bool_(averaging == "cumulative"),
        "one_pass": jnp.bool_(conventions.one_pass_variance),
    }


def _normalize(x, mean, variance, gamma, beta, epsilon):
    return (x - mean) * jax.lax.rsqrt(variance + epsilon) * gamma + beta


@partial(jax.jit, static_argnames=("reduce_axes",))
def train_step(state, x, decay, epsilon, rules, *, reduce_axes):
    """Normalize ``x`` with its batch statistics and return (output, new state).

    Half-precision batches are computed in float32 and the moving statistics kept in float32,
    as Keras and Flax do. Every rule is a traced value selected with ``where``, so the only
    things that compile a new program are the batch's shape, dtype and reduced axes.
    """
    compute = jnp.float32 if x.dtype in HALF else x.dtype
    xc = x.astype(compute)
    mean = jnp.mean(xc, axis=reduce_axes, keepdims=True)
    two_pass = jnp.mean(jnp.square(xc - mean), axis=reduce_axes, keepdims=True)
    one_pass = jnp.maximum(jnp.mean(xc * xc, axis=reduce_axes, keepdims=True) - mean * mean, 0.0)
    biased = jnp.where(rules["one_pass"], one_pass, two_pass)
    n = xc.size // mean.size
    unbiased = biased * (n / (n - 1) if n > 1 else jnp.inf)
    gamma, beta = state["gamma"].reshape(mean.shape), state["beta"].reshape(mean.shape)
    output = _normalize(xc, mean, jnp.where(rules["normalize_unbiased"], unbiased, biased), gamma, beta, epsilon)

    t = state["steps"] + 1
    new = dict(state, steps=t)
    update_variance = jnp.where(rules["update_unbiased"], unbiased, biased)
    for key, value in (("mean", mean), ("var", update_variance)):
        value = value.reshape(-1).astype(state[key].dtype)
        hidden = decay * state["hidden_" + key] + (1 - decay) * value
        blended = decay * state[key] + (1 - decay) * value
        moving = jnp.select(
            [rules["cumulative"], rules["first_step"] == 2, (rules["first_step"] == 1) & (t == 1)],
            [state[key] + (value - state[key]) / t, hidden / (1 - decay**t), value],
            blended,
        )
        new[key], new["hidden_" + key] = moving, hidden
    return output.astype(x.dtype), new


@partial(jax.jit, static_argnames=("channel_axis",))
def infer(state, x, epsilon, *, channel_axis):
    """Normalize ``x`` with the moving statistics; epsilon inside the square root."""
    compute = jnp.float32 if x.dtype in HALF else x.dtype
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    mean, variance, gamma, beta = (state[k].reshape(shape) for k in ("mean", "var", "gamma", "beta"))
    return _normalize(x.astype(compute), mean, variance, gamma, beta, epsilon).astype(x.dtype)


def initial_variables(num_features: int, conventions: Conventions) -> dict[str, jax.Array]:
    """A fresh layer's variables; parameters and moving statistics stay float32 for half inputs."""
    c, param = num_features, np.float32
    values = {
        "mean": np.full(c, conventions.initial_mean, param),
        "var": np.full(c, conventions.initial_variance, param),
        "hidden_mean": np.full(c, conventions.initial_mean, param),
        "hidden_var": np.full(c, conventions.initial_variance, param),
        "gamma": np.ones(c, param),
        "beta": np.zeros(c, param),
        "steps": np.zeros((), np.int32),
    }
    return {key: device_array(value, value.dtype) for key, value in values.items()}


class JaxOwnBatchNorm(JitCompiled, Adapter):
    """The own implementation, following TensorFlow/Keras's conventions unless told otherwise.

    ``conventions`` makes it follow any other :class:`Conventions`; its ``momentum_weight``
    decides what the native ``momentum`` argument means.
    """

    declared = PRESETS["old-weight-biased"]
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch

    def __init__(self, spec: BatchNormSpec, conventions: Conventions | None = None):
        if conventions is not None:
            self.declared = conventions
        super().__init__(spec)

    @classmethod
    def with_framework_defaults(cls, spec: BatchNormSpec) -> Adapter:
        """No framework builds this layer: its defaults are its declaration, which the probes read back."""
        raise AdapterError(cls.id, "with_framework_defaults", "is bnparity's own BatchNorm: its defaults are what it declares")

    def native_arguments(self) -> dict:
        spec, conv = self.spec, self.declared
        if spec.averaging == "none":
            raise SpecError("averaging", spec.averaging, "is not implemented by the own JAX BatchNorm, which always keeps moving statistics")
        return {
            "momentum": conv.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "axis": spec.axis,
            "averaging": spec.averaging,
            "conventions": conv,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(
            self.spec,
            decay=native["conventions"].decay_of(native["momentum"]),
            epsilon=native["epsilon"],
            axis=native["axis"],
            averaging=native["averaging"],
        )

    def native_defaults(self) -> dict:
        """The own implementation's defaults are those of the convention it follows."""
        return {"momentum": self.declared.default_momentum, "epsilon": self.declared.default_epsilon}

    def _build(self) -> None:
        self.variables = initial_variables(self.spec.num_features, self.declared)
        self.rules = rules_of(self.declared, self.spec.averaging)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        """The network as pure functions: ``jax.grad`` through the shared training step, then optax's Adam."""
        import optax

        from .adam import first_adam_updates

        decay = jnp.float32(self.declared.decay_of(self.native["momentum"]))
        epsilon, step = jnp.float32(self.spec.epsilon), partial(train_step, reduce_axes=(0,))
        x, y = device_array(x, "float32"), device_array(y, "float32")
        params = {"kernel": np.float32(kernel), "second_kernel": np.float32(second_kernel),
                  "gamma_1": np.ones(1, np.float32), "beta_1": np.zeros(1, np.float32),
                  "gamma_2": np.ones(1, np.float32), "beta_2": np.zeros(1, np.float32)}
        fresh = initial_variables(1, self.declared)

        @jax.jit
        def train(params):  # one step and the read-back, compiled as a training loop is
            def loss(params):
                bn_1 = dict(fresh, gamma=params["gamma_1"], beta=params["beta_1"])
                bn_2 = dict(fresh, gamma=params["gamma_2"], beta=params["beta_2"])
                hidden, bn_1 = step(bn_1, x * params["kernel"], decay, epsilon, self.rules)
                pred, bn_2 = step(bn_2, jax.nn.relu(hidden) * params["second_kernel"], decay, epsilon, self.rules)
                return jnp.mean((pred - y) ** 2), bn_1

            grads, bn_1 = jax.grad(loss, has_aux=True)(params)
            params = optax.apply_updates(params, first_adam_updates(grads, params, learning_rate))
            bn_1 = dict(bn_1, gamma=params["gamma_1"], beta=params["beta_1"])
            return {"kernel": params["kernel"], "moving_mean": bn_1["mean"], "moving_variance": bn_1["var"],
                    "gamma": bn_1["gamma"], "beta": bn_1["beta"],
                    "bn_1": infer(bn_1, x * params["kernel"], epsilon, channel_axis=1)}

        return train(params)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        decay = jnp.float32(self.declared.decay_of(self.native["momentum"]))
        x, epsilon = device_array(batch, self.spec.dtype), jnp.float32(self.spec.epsilon)
        output, self.variables = train_step(
            self.variables, x, decay, epsilon, self.rules, reduce_axes=self.spec.reduce_axes
        )
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        x = device_array(batch, self.spec.dtype)
        return np.asarray(infer(self.variables, x, jnp.float32(self.spec.epsilon), channel_axis=self.spec.channel_axis))

    def native_state_names(self) -> tuple:
        return tuple(k for k in ("mean", "var", "gamma", "beta") if k in self.variables)

    def moving_dtype(self) -> str:
        return dtype_name(self.variables["mean"].dtype)

    def _weight_list(self) -> list[str]:
        """The variables' leaves, as ``jax.tree_util`` flattens them."""
        return leaf_names(self.variables)

    def _read(self) -> tuple:
        return tuple(np.asarray(self.variables[k]) for k in ("mean", "var", "gamma", "beta"))

    def _write(self, state: State) -> None:
        for key, value in zip(("mean", "var", "gamma", "beta"), state):
            self.variables[key] = device_array(value, "float32")


class JaxOwnUnbiased(JaxOwnBatchNorm):
    """The own implementation following PyTorch's conventions: the same code, other choices."""

    declared = PRESETS["new-weight-unbiased"]
