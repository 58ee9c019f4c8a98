"""Haiku ``hk.BatchNorm``: a required decay, zero-debiased moving averages, a one-pass variance.

``decay_rate`` has no default and weighs the old value. The moving mean and variance are
``hk.ExponentialMovingAverage`` states with ``zero_debias=True``: a hidden average that starts at
0 is divided by 1 - decay**t, so after one step the moving statistics *are* the batch's, the answer
the founding question expected. Before any step they read 0, variance included. The batch
variance is E[x^2] - E[x]^2, in the input's dtype.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from ..base import Adapter, State, dtype_name, exponential_only
from ..conventions import Conventions, HalfPrecision
from ..spec import BatchNormSpec
from .compiled import JitCompiled, device_array, static

EMAS = ("batch_norm/~/mean_ema", "batch_norm/~/var_ema")


def transformed(config: tuple, decay_rate, eps, is_training: bool) -> hk.TransformedWithState:
    """``hk.BatchNorm(**config, decay_rate=decay_rate, eps=eps)`` called on a batch, as Haiku transforms it.

    Built inside the jitted functions below, so decay and epsilon are traced values and every decay
    shares the program compiled for a configuration, shape and dtype.
    """
    return hk.transform_with_state(lambda x: hk.BatchNorm(**dict(config), decay_rate=decay_rate, eps=eps, name="batch_norm")(x, is_training))


@partial(jax.jit, static_argnames=("config", "is_training"))
def apply(params, state, x, decay_rate, eps, *, config, is_training):
    """One call of the layer, jitted; returns (output, new state)."""
    return transformed(config, decay_rate, eps, is_training).apply(params, state, None, x)


@partial(jax.jit, static_argnames=("config", "shape", "dtype"))
def initial_variables(decay_rate, eps, *, config, shape, dtype):
    """Parameters and state of the layer initialized on a zero batch, jitted like the steps."""
    return transformed(config, decay_rate, eps, True).init(jax.random.key(0), jnp.zeros(shape, dtype))


class HaikuBatchNorm(JitCompiled, Adapter):
    declared = Conventions(
        momentum_weight="old",
        default_momentum=None,
        default_epsilon=1e-5,
        train_normalize_variance="biased",
        moving_variance_update="biased",
        state_names=("mean_ema", "var_ema", "scale", "offset"),
        weight_order=("offset", "scale", "mean_ema", "var_ema"),
        initial_variance=0.0,
        first_step="debiased",
        one_pass_variance=True,
        half_precision=HalfPrecision.moving_in("input"),
        float64_momentum="no float64",
    )
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch
    native_channel_axis = -1  # data_format="channels_last"
    momentum_argument = "decay_rate"
    epsilon_argument = "eps"

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, "Haiku")
        return {
            "create_scale": spec.scale,
            "create_offset": spec.center,
            "decay_rate": self.declared.native_momentum(spec.decay),
            "eps": spec.epsilon,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(
            self.spec,
            scale=native["create_scale"],
            center=native["create_offset"],
            decay=self.declared.decay_of(native["decay_rate"]),
            epsilon=native["eps"],
            averaging="exponential",
        )

    def native_defaults(self) -> dict:
        """``decay_rate`` is required; ``eps`` is read from a module built without it."""
        epsilon = hk.transform(lambda: hk.BatchNorm(True, True, decay_rate=0.5).eps).apply({}, None)
        return {"momentum": None, "epsilon": epsilon}

    def native_state_names(self) -> tuple:
        names = [name.split("/")[-1] for name in EMAS if name in self.ema_state]
        names += [k for k in ("scale", "offset") if k in self.params.get("batch_norm", {})]
        return tuple(names)

    def moving_dtype(self) -> str:
        return dtype_name(self.ema_state[EMAS[0]]["average"].dtype)

    def _build(self) -> None:
        shape = (2,) + (1,) * (self.spec.ndim - 2) + (self.spec.num_features,)
        native = self.native
        self.params, self.ema_state = initial_variables(float(native["decay_rate"]), float(native["eps"]), config=static(native, "decay_rate", "eps"),
                                                        shape=shape, dtype=self.spec.dtype)

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        import optax

        from .adam import first_adam_updates

        native, constant = self.native, hk.initializers.Constant

        def forward(x, is_training):
            hidden = hk.Linear(1, with_bias=False, w_init=constant(kernel), name="dense_1")(x)
            bn_1 = hk.BatchNorm(**native, name="bn_1")(hidden, is_training)
            predx = hk.Linear(1, with_bias=False, w_init=constant(second_kernel), name="dense_2")(jax.nn.relu(bn_1))
            return hk.BatchNorm(**native, name="bn_2")(predx, is_training), bn_1

        network = hk.transform_with_state(forward)
        x, y = device_array(x, "float32"), device_array(y, "float32")

        @jax.jit
        def train():  # init, one step and the read-back, compiled as a training loop is
            params, state = network.init(jax.random.key(0), x, True)

            def loss(params):
                (pred, _), new_state = network.apply(params, state, None, x, True)
                return jnp.mean((pred - y) ** 2), new_state

            grads, state = jax.grad(loss, has_aux=True)(params)
            params = optax.apply_updates(params, first_adam_updates(grads, params, learning_rate))
            (_, bn_1), _ = network.apply(params, state, None, x, False)
            return {"kernel": params["dense_1"]["w"], "moving_mean": state["bn_1/~/mean_ema"]["average"],
                    "moving_variance": state["bn_1/~/var_ema"]["average"], "gamma": params["bn_1"]["scale"],
                    "beta": params["bn_1"]["offset"], "bn_1": bn_1}

        return train()

    def _apply(self, batch: np.ndarray, is_training: bool):
        native = self.native
        return apply(self.params, self.ema_state, device_array(batch, self.spec.dtype), float(native["decay_rate"]),
                     float(native["eps"]), config=static(native, "decay_rate", "eps"), is_training=is_training)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        output, self.ema_state = self._apply(batch, is_training=True)
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._apply(batch, is_training=False)[0])

    def _weight_list(self) -> list[str]:
        """The leaves of ``(params, state)``, as ``jax.tree_util`` flattens them; an average by its module's name."""
        names = []
        for path, _ in jax.tree_util.tree_flatten_with_path((self.params, self.ema_state))[0]:
            keys = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", "")))) for k in path]
            names.append(keys[-2].split("/")[-1] if keys[-1] == "average" else keys[-1])
        return names

    def _read(self) -> tuple:
        c, params = self.spec.num_features, self.params.get("batch_norm", {})
        mean, var = (self.ema_state[name]["average"] for name in EMAS)
        return mean, var, params.get("scale", np.ones(c)), params.get("offset", np.zeros(c))

    def _write(self, state: State) -> None:
        """Set each average, and its hidden value so that the next step continues from it."""
        decay = self.native["decay_rate"]
        new_state = {}
        for name, value in zip(EMAS, (state.mean, state.variance)):
            ema = self.ema_state[name]
            value, counter = value.reshape(ema["average"].shape), int(ema["counter"])
            debias = 1 - decay**counter if counter > 0 else 1.0
            dtype = ema["average"].dtype
            new_state[name] = dict(ema, average=device_array(value, dtype), hidden=device_array(value * debias, dtype))
        self.ema_state = {**self.ema_state, **new_state}
        params = {k: dict(v) for k, v in self.params.items()}
        for key, value in (("scale", state.gamma), ("offset", state.beta)):
            if key in params.get("batch_norm", {}):
                old = params["batch_norm"][key]
                params["batch_norm"][key] = device_array(value.reshape(old.shape), old.dtype)
        self.params = params
