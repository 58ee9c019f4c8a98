"""Flax linen's and Haiku's BatchNorm under ``jax.pmap`` over two CPU devices, with the layer told
the replicas' axis (Flax ``axis_name``, Haiku ``cross_replica_axis``) and without.

The devices exist only if XLA is told before JAX starts (``--xla_force_host_platform_device_count``),
so these run in the ``jax-replicas`` worker. Variables are initialized outside ``pmap``, with a layer
that names no axis (a named axis is unbound there), and handed to every replica, as a data-parallel
training script does.
"""

from __future__ import annotations

import numpy as np

from .base import DataParallel

AXIS = "replicas"
#: The declarations of a layer that synchronizes its batch statistics across replicas, and of one that does not.
SYNCHRONIZED = {
    "normalizes_with": "global statistics",
    "combined_variance": "pooled over all replicas",
    "replicas_agree": "all replicas hold the same",
}
LOCAL = {
    "normalizes_with": "each replica's own",
    "combined_variance": "not combined",
    "replicas_agree": "each replica its own",
}


def _replicated(tree, replicas: int):
    """Each leaf stacked once per replica: what a data-parallel script hands ``pmap`` with ``in_axes=0``."""
    import jax

    return jax.tree_util.tree_map(lambda leaf: np.stack([np.asarray(leaf)] * replicas), tree)


class FlaxLinen(DataParallel):
    """``flax.linen.BatchNorm(axis_name=None)`` under ``pmap``: nothing tells it of the other replica."""

    axis_name: str | None = None
    declared = {**LOCAL, "next_step": "each replica continues its own"}

    def steps(self, steps: np.ndarray, decay: float, epsilon: float) -> list[dict[str, np.ndarray]]:
        import flax.linen as nn
        import jax

        def layer(axis_name):
            return nn.BatchNorm(use_running_average=False, momentum=decay, epsilon=epsilon, axis_name=axis_name)

        variables = _replicated(layer(None).init(jax.random.key(0), steps[0][0]), steps.shape[1])

        def replica(v, batch):
            output, updates = layer(self.axis_name).apply(v, batch, mutable=["batch_stats"])
            return output, updates["batch_stats"]

        seen = []
        for batches in steps:
            output, stats = jax.pmap(replica, axis_name=AXIS)(variables, batches)
            variables = {**variables, "batch_stats": stats}
            seen.append({"output": np.asarray(output, np.float64), "mean": np.asarray(stats["mean"], np.float64),
                         "variance": np.asarray(stats["var"], np.float64)})
        return seen


class FlaxLinenAxisName(FlaxLinen):
    """``flax.linen.BatchNorm(axis_name="replicas")``: batch statistics averaged over the replicas
    (``lax.pmean`` of the mean and of the mean of squares, flax/linen/normalization.py)."""

    axis_name = AXIS
    declared = {**SYNCHRONIZED, "next_step": "the same on every replica"}


class Haiku(DataParallel):
    """``hk.BatchNorm(cross_replica_axis=None)`` under ``pmap``."""

    axis_name: str | None = None
    declared = {**LOCAL, "next_step": "each replica continues its own"}

    def steps(self, steps: np.ndarray, decay: float, epsilon: float) -> list[dict[str, np.ndarray]]:
        import haiku as hk
        import jax

        def forward(batch, axis_name):
            return hk.BatchNorm(True, True, decay, eps=epsilon, cross_replica_axis=axis_name)(batch, is_training=True)

        params, state = hk.transform_with_state(lambda b: forward(b, None)).init(jax.random.key(0), steps[0][0])
        params, state = _replicated(params, steps.shape[1]), _replicated(state, steps.shape[1])
        apply = hk.transform_with_state(lambda b: forward(b, self.axis_name)).apply
        seen = []
        for batches in steps:
            output, state = jax.pmap(lambda p, s, b: apply(p, s, None, b), axis_name=AXIS)(params, state, batches)
            seen.append({"output": np.asarray(output, np.float64),
                         "mean": np.asarray(state["batch_norm/~/mean_ema"]["average"], np.float64),
                         "variance": np.asarray(state["batch_norm/~/var_ema"]["average"], np.float64)})
        return seen


class HaikuCrossReplicaAxis(Haiku):
    """``hk.BatchNorm(cross_replica_axis="replicas")``: the mean and the mean of squares ``pmean``-ed."""

    axis_name = AXIS
    declared = {**SYNCHRONIZED, "next_step": "the same on every replica"}
