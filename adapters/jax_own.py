"""bnparity's own BatchNorm in JAX: pure functions that follow any declared convention.

It exists to show that every difference in the matrix is a choice, not a necessity: given the
conventions of PyTorch or of Keras it reproduces their moving statistics exactly. The training
step is one ``jax.jit`` function shared by every layer; the choices that change the program
(which variance, the first-step rule, the reduced axes) are static and the numbers (momentum,
epsilon, step count) are traced, so a new momentum or epsilon never recompiles, and a test that
meets a shape and configuration already seen reuses the compiled step.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .base import Adapter, State
from .conventions import Conventions
from .spec import BatchNormSpec

#: The conventions the own implementation can be told to follow, by name.
PRESETS = {
    # TensorFlow/Keras: momentum weighs the old value, the moving variance is biased.
    "old-weight-biased": Conventions(
        momentum_weight="old",
        default_momentum=0.99,
        default_epsilon=1e-3,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("mean", "var", "scale", "bias"),
    ),
    # PyTorch: momentum weighs the new value, the moving variance is unbiased.
    "new-weight-unbiased": Conventions(
        momentum_weight="new",
        default_momentum=0.1,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="unbiased",
        state_names=("mean", "var", "scale", "bias"),
    ),
}

HALF = (jnp.float16, jnp.bfloat16)


def _moments(x: jax.Array, reduce_axes: tuple[int, ...], one_pass: bool) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance per channel; the one-pass form is E[x^2] - E[x]^2."""
    mean = jnp.mean(x, axis=reduce_axes, keepdims=True)
    if one_pass:
        variance = jnp.maximum(jnp.mean(x * x, axis=reduce_axes, keepdims=True) - mean * mean, 0.0)
    else:
        variance = jnp.mean(jnp.square(x - mean), axis=reduce_axes, keepdims=True)
    return mean, variance


def _normalize(x, mean, variance, gamma, beta, epsilon):
    return (x - mean) * jax.lax.rsqrt(variance + epsilon) * gamma + beta


@partial(
    jax.jit,
    static_argnames=("reduce_axes", "normalize_unbiased", "update_unbiased", "first_step", "cumulative", "one_pass"),
)
def train_step(state, x, decay, epsilon, *, reduce_axes, normalize_unbiased, update_unbiased, first_step, cumulative, one_pass):
    """Normalize ``x`` with its batch statistics and return (output, new state)."""
    compute = jnp.float32 if x.dtype in HALF else x.dtype
    xc = x.astype(compute)
    mean, biased = _moments(xc, reduce_axes, one_pass)
    n = xc.size // mean.size
    unbiased = biased * (n / (n - 1)) if n > 1 else biased * jnp.inf
    shape = mean.shape
    gamma, beta = state["gamma"].reshape(shape), state["beta"].reshape(shape)
    output = _normalize(xc, mean, unbiased if normalize_unbiased else biased, gamma, beta, epsilon)

    t = state["steps"] + 1
    new = dict(state, steps=t)
    for key, value in (("mean", mean), ("var", unbiased if update_unbiased else biased)):
        value = value.reshape(-1).astype(state[key].dtype)
        if cumulative:
            new[key] = state[key] + (value - state[key]) / t
        elif first_step == "debiased":
            hidden = decay * state["hidden_" + key] + (1 - decay) * value
            new["hidden_" + key] = hidden
            new[key] = hidden / (1 - decay**t)
        elif first_step == "copy":
            new[key] = jnp.where(t == 1, value, decay * state[key] + (1 - decay) * value)
        else:
            new[key] = decay * state[key] + (1 - decay) * value
    return output.astype(x.dtype), new


@partial(jax.jit, static_argnames=("channel_axis",))
def infer(state, x, epsilon, *, channel_axis):
    """Normalize ``x`` with the moving statistics; epsilon inside the square root."""
    compute = jnp.float32 if x.dtype in HALF else x.dtype
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    mean, variance, gamma, beta = (state[k].reshape(shape) for k in ("mean", "var", "gamma", "beta"))
    return _normalize(x.astype(compute), mean, variance, gamma, beta, epsilon).astype(x.dtype)


class JaxOwnBatchNorm(Adapter):
    """The own implementation, following TensorFlow/Keras's conventions unless told otherwise.

    ``conventions`` makes it follow any other :class:`Conventions`; its ``momentum_weight``
    decides what the native ``momentum`` argument means.
    """

    id = "jax-own"
    declared = PRESETS["old-weight-biased"]
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch

    def __init__(self, spec: BatchNormSpec, conventions: Conventions | None = None):
        if conventions is not None:
            self.declared = conventions
        super().__init__(spec)

    def native_arguments(self) -> dict:
        spec, conv = self.spec, self.declared
        return {
            "momentum": conv.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "axis": spec.channel_axis,
            "averaging": spec.averaging,
            "conventions": conv,
        }

    def _build(self) -> None:
        spec, conv = self.spec, self.declared
        param = jnp.float32  # parameters and moving statistics stay float32 for half inputs
        c = spec.num_features
        self.variables = {
            "mean": jnp.full(c, conv.initial_mean, param),
            "var": jnp.full(c, conv.initial_variance, param),
            "hidden_mean": jnp.zeros(c, param),
            "hidden_var": jnp.zeros(c, param),
            "gamma": jnp.ones(c, param),
            "beta": jnp.zeros(c, param),
            "steps": jnp.zeros((), jnp.int32),
        }
        self._static = {
            "reduce_axes": spec.reduce_axes,
            "normalize_unbiased": conv.train_normalize_variance == "unbiased",
            "update_unbiased": conv.moving_variance_update == "unbiased",
            "first_step": conv.first_step,
            "cumulative": spec.averaging == "cumulative",
            "one_pass": conv.one_pass_variance,
        }

    def _train(self, batch: np.ndarray) -> np.ndarray:
        decay = jnp.float32(self.declared.decay_of(self.native["momentum"]))
        output, self.variables = train_step(
            self.variables, jnp.asarray(batch, self.spec.dtype), decay, jnp.float32(self.spec.epsilon), **self._static
        )
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        x = jnp.asarray(batch, self.spec.dtype)
        return np.asarray(infer(self.variables, x, jnp.float32(self.spec.epsilon), channel_axis=self.spec.channel_axis))

    def _read(self) -> tuple:
        return tuple(np.asarray(self.variables[k]) for k in ("mean", "var", "gamma", "beta"))

    def _write(self, state: State) -> None:
        for key, value in zip(("mean", "var", "gamma", "beta"), state):
            self.variables[key] = jnp.asarray(value, jnp.float32)


class JaxOwnUnbiased(JaxOwnBatchNorm):
    """The own implementation following PyTorch's conventions: the same code, other choices."""

    id = "jax-own_unbiased"
    declared = PRESETS["new-weight-unbiased"]
