"""Flax ``linen.BatchNorm``: Keras's momentum convention, PyTorch's epsilon, and a fast variance.

``momentum`` weighs the old value as in Keras (default 0.99), ``epsilon`` defaults to 1e-5 as in
PyTorch, and the moving statistics live in the ``batch_stats`` collection, which a training call
must be allowed to mutate. By default (``use_fast_variance=True``) the variance is computed in one
pass as E[x^2] - E[x]^2, which returns 0 for data whose mean is large against its spread.
"""

from __future__ import annotations

from dataclasses import replace

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .base import Adapter, State, exponential_only, dtype_name
from .conventions import Conventions
from .spec import BatchNormSpec

FLAX = Conventions(
    momentum_weight="old",
    default_momentum=0.99,
    default_epsilon=1e-5,
    train_normalize_variance="biased",
    moving_variance_update="biased",
    state_names=("mean", "var", "scale", "bias"),
    one_pass_variance=True,
)


class FlaxLinenBatchNorm(Adapter):
    id = "jax-flax_linen"
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
        native = dict(self.native, dtype=jnp.dtype(self.native["dtype"]))
        self.module = nn.BatchNorm(**native)
        shape = [1] * self.spec.ndim
        shape[self.spec.channel_axis] = self.spec.num_features
        sample = jnp.zeros(shape, native["dtype"])
        self.variables = dict(self.module.init(jax.random.key(0), sample, use_running_average=True))

    def _train(self, batch: np.ndarray) -> np.ndarray:
        x = jnp.asarray(batch, self.spec.dtype)
        output, updates = self.module.apply(self.variables, x, use_running_average=False, mutable=["batch_stats"])
        self.variables["batch_stats"] = updates["batch_stats"]
        return np.asarray(output)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        x = jnp.asarray(batch, self.spec.dtype)
        return np.asarray(self.module.apply(self.variables, x, use_running_average=True))

    def _read(self) -> tuple:
        stats, params, c = self.variables["batch_stats"], self.variables.get("params", {}), self.spec.num_features
        return stats["mean"], stats["var"], params.get("scale", np.ones(c)), params.get("bias", np.zeros(c))

    def _write(self, state: State) -> None:
        stats = dict(self.variables["batch_stats"])
        params = dict(self.variables.get("params", {}))
        for tree, key, value in ((stats, "mean", state.mean), (stats, "var", state.variance),
                                 (params, "scale", state.gamma), (params, "bias", state.beta)):
            if key in tree:
                tree[key] = jnp.asarray(value, tree[key].dtype)
        self.variables = {"batch_stats": stats, **({"params": params} if params else {})}
