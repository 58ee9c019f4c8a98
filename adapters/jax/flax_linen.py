"""Flax ``linen.BatchNorm``: Keras's momentum convention, PyTorch's epsilon, and a fast variance.

``momentum`` weighs the old value as in Keras (default 0.99), ``epsilon`` defaults to 1e-5 as in
PyTorch, and the moving statistics live in the ``batch_stats`` collection, which a training call
must be allowed to mutate. By default (``use_fast_variance=True``) the variance is computed in one
pass as E[x^2] - E[x]^2, which returns 0 for data whose mean is large against its spread.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..base import Adapter, State, dtype_name, exponential_only
from ..conventions import BeyondRange, Conventions
from ..spec import BatchNormSpec
from .compiled import JitCompiled, device_array, leaf_names, static

FLAX = Conventions(
    momentum_weight="old",
    default_momentum=0.99,
    default_epsilon=1e-5,
    train_normalize_variance="biased",
    moving_variance_update="biased",
    state_names=("mean", "var", "scale", "bias"),
    weight_order=("mean", "var", "bias", "scale"),
    one_pass_variance=True,
    float64_momentum="no float64",
    half_precision_range=BeyondRange(outputs="±1", stores="it"),
)


@partial(jax.jit, static_argnames=("config", "train"))
def apply(variables, x, momentum, epsilon, *, config, train):
    """One call of ``nn.BatchNorm(**config, momentum=momentum, epsilon=epsilon)``, jitted.

    A linen module is a description, so it is built inside the trace with momentum and epsilon as
    traced values: every decay shares the program compiled for a configuration, shape and dtype.
    Returns the output and, in training, the updated ``batch_stats``.
    """
    module = nn.BatchNorm(**dict(config), momentum=momentum, epsilon=epsilon)
    if not train:
        return module.apply(variables, x, use_running_average=True), variables["batch_stats"]
    output, updates = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    return output, updates["batch_stats"]


@partial(jax.jit, static_argnames=("config", "shape"))
def initial_variables(*, config, shape):
    """``nn.BatchNorm(**config).init`` on a zero batch of ``shape``, jitted like the steps."""
    native = dict(config)
    return nn.BatchNorm(**native).init(jax.random.key(0), jnp.zeros(shape, native["dtype"]), use_running_average=True)


class FlaxLinenBatchNorm(JitCompiled, Adapter):
    declared = FLAX
    dtypes = ("float16", "bfloat16", "float32")  # float64 needs jax_enable_x64, a process-wide switch

    def native_arguments(self) -> dict:
        spec = self.spec
        exponential_only(spec, "Flax")
        return {
            "axis": spec.axis,
            "momentum": self.declared.native_momentum(spec.decay),
            "epsilon": spec.epsilon,
            "use_bias": spec.center,
            "use_scale": spec.scale,
            "dtype": spec.dtype,
        }

    def spec_from_native(self, native: dict) -> BatchNormSpec:
        return replace(
            self.spec,
            axis=native["axis"],
            decay=self.declared.decay_of(native["momentum"]),
            epsilon=native["epsilon"],
            center=native["use_bias"],
            scale=native["use_scale"],
            dtype=native["dtype"],
            averaging="exponential",
        )

    def native_defaults(self) -> dict:
        default = nn.BatchNorm()
        return {"momentum": default.momentum, "epsilon": default.epsilon}

    def native_state_names(self) -> tuple:
        stats, params = self.variables["batch_stats"], self.variables.get("params", {})
        return ("mean" if "mean" in stats else "absent", "var" if "var" in stats else "absent",
                "scale" if "scale" in params else "absent", "bias" if "bias" in params else "absent")

    def moving_dtype(self) -> str:
        return dtype_name(self.variables["batch_stats"]["mean"].dtype)

    def _build(self) -> None:
        shape = [1] * self.spec.ndim
        shape[self.spec.channel_axis] = self.spec.num_features
        self.variables = dict(initial_variables(config=static(self.native, "momentum", "epsilon"), shape=tuple(shape)))

    def _founding_network(self, kernel, second_kernel, x, y, learning_rate) -> dict:
        import optax

        from .adam import first_adam_updates

        native = dict(self.native, dtype=jnp.dtype(self.native["dtype"]))

        class Network(nn.Module):
            @nn.compact
            def __call__(self, x, train):
                hidden = nn.Dense(1, use_bias=False, kernel_init=nn.initializers.constant(kernel), name="dense_1")(x)
                bn_1 = nn.BatchNorm(**native, use_running_average=not train, name="bn_1")(hidden)
                predx = nn.Dense(1, use_bias=False, kernel_init=nn.initializers.constant(second_kernel))(nn.relu(bn_1))
                return nn.BatchNorm(**native, use_running_average=not train)(predx), bn_1

        network, x, y = Network(), device_array(x, "float32"), device_array(y, "float32")

        @jax.jit
        def train():  # init, one step and the read-back, compiled as a training loop is
            variables = network.init(jax.random.key(0), x, train=False)

            def loss(params):
                (pred, _), updates = network.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
                return jnp.mean((pred - y) ** 2), updates["batch_stats"]

            grads, batch_stats = jax.grad(loss, has_aux=True)(variables["params"])
            params = optax.apply_updates(variables["params"], first_adam_updates(grads, variables["params"], learning_rate))
            _, bn_1 = network.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
            return {"kernel": params["dense_1"]["kernel"], "moving_mean": batch_stats["bn_1"]["mean"],
                    "moving_variance": batch_stats["bn_1"]["var"], "gamma": params["bn_1"]["scale"],
                    "beta": params["bn_1"]["bias"], "bn_1": bn_1}

        return train()

    def _apply(self, batch: np.ndarray, train: bool):
        native = self.native
        # Python floats are traced as weakly typed values: the half-precision arithmetic is the eager one's
        return apply(self.variables, device_array(batch, self.spec.dtype), float(native["momentum"]),
                     float(native["epsilon"]), config=static(native, "momentum", "epsilon"), train=train)

    def _train(self, batch: np.ndarray) -> np.ndarray:
        output, self.variables["batch_stats"] = self._apply(batch, train=True)
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._apply(batch, train=False)[0])

    def _weight_list(self) -> list[str]:
        """The variables' leaves (``batch_stats`` and ``params``), as ``jax.tree_util`` flattens them."""
        return leaf_names(self.variables)

    def _read(self) -> tuple:
        stats, params, c = self.variables["batch_stats"], self.variables.get("params", {}), self.spec.num_features
        return stats["mean"], stats["var"], params.get("scale", np.ones(c)), params.get("bias", np.zeros(c))

    def _write(self, state: State) -> None:
        stats = dict(self.variables["batch_stats"])
        params = dict(self.variables.get("params", {}))
        for tree, key, value in ((stats, "mean", state.mean), (stats, "var", state.variance),
                                 (params, "scale", state.gamma), (params, "bias", state.beta)):
            if key in tree:
                tree[key] = device_array(value, tree[key].dtype)
        self.variables = {"batch_stats": stats, **({"params": params} if params else {})}
