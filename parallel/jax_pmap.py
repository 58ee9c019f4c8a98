"""JAX BatchNorms under ``jax.pmap`` over two CPU devices, each with the layer told the replicas' axis
(Flax linen and NNX ``axis_name``, Haiku ``cross_replica_axis``, Equinox ``axis_name=("batch",
"replicas")``) and without.

The devices exist only if XLA is told before JAX starts (``--xla_force_host_platform_device_count``),
so these run in the ``jax-replicas`` worker. Variables are initialized outside ``pmap``, with a layer
that names no replicas' axis (a named axis is unbound there), and handed to every replica, as a
data-parallel training script does. Each replica's batch is placed on its device and the pieces
assembled into one array over the devices (``jax.make_array_from_single_device_arrays``), the
per-device placement ``pmap`` maps over: replicas of unequal sizes are refused there, and that
refusal is the uneven row's observation.
"""

from __future__ import annotations

import abc

import numpy as np

from adapters.rows import DATA_PARALLEL

from .base import DataParallel, UnequalSlicesRefused, per_replica

AXIS = "replicas"
#: The declarations of a layer that synchronizes its batch statistics across replicas, and of one that does not.
SYNCHRONIZED = {
    "normalizes_with": "global statistics",
    "combined_variance": "pooled over all replicas",
    "replicas_agree": "all replicas hold the same",
    "unbiased_count": "none (the biased variance)",
    "inference": "the same on every replica",
    "next_step": "the same on every replica",
}
LOCAL = {
    "normalizes_with": "each replica's own",
    "combined_variance": "not combined",
    "replicas_agree": "each replica its own",
    "unbiased_count": "none (the biased variance)",
    "uneven_replicas": "not combined",
    "inference": "each replica its own moving statistics",
    "next_step": "each replica continues its own",
}
#: What every ``pmap`` run observes beyond its layer: a script gets the replicas' values stacked, and
#: cannot hand replicas batches of different sizes (the refusal's message is the evidence).
PMAP = {"read_outside": "one value per replica (stacked)", "uneven_replicas": "equal slices only"}


def on_devices(batches) -> object:
    """One replica's batch on each device, as one array over the devices (replicas, N, C)."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()[: len(batches)]
    sharding = NamedSharding(Mesh(np.array(devices), (AXIS,)), PartitionSpec(AXIS))
    pieces = [jax.device_put(np.asarray(batch, np.float32)[None], device) for batch, device in zip(batches, devices)]
    try:
        return jax.make_array_from_single_device_arrays((len(batches), *pieces[0].shape[1:]), sharding, pieces)
    except ValueError as error:
        raise UnequalSlicesRefused(f"ValueError: {str(error).splitlines()[0]}") from error


def _replicated(tree, replicas: int):
    """Each leaf stacked once per replica: what a data-parallel script hands ``pmap`` with ``in_axes=0``."""
    import jax

    return jax.tree_util.tree_map(lambda leaf: np.stack([np.asarray(leaf)] * replicas), tree)


class PmapRun(DataParallel):
    """A layer under ``jax.pmap``: ``initial`` its variables (as one replica holds them), ``replica`` one
    replica's training step inside ``pmap``, ``moving`` the stacked moving statistics of the variables."""

    #: The replicas' axis the layer is told of, or None.
    axis_name: str | None = None

    @abc.abstractmethod
    def initial(self, batch: np.ndarray, decay: float, epsilon: float):
        """The layer's variables as one replica holds them, initialized outside ``pmap``."""

    @abc.abstractmethod
    def replica(self, variables, batch):
        """One replica's training step inside ``pmap``: (output, new variables)."""

    @abc.abstractmethod
    def infer(self, variables, batch):
        """One replica's inference-mode output inside ``pmap``."""

    @abc.abstractmethod
    def moving(self, variables) -> tuple[np.ndarray, np.ndarray]:
        """The moving mean and variance the (stacked) variables hold, as inference reads them."""

    def steps(self, steps: list, decay: float, epsilon: float) -> list[dict]:
        import jax

        replicas = len(steps[0])
        variables = _replicated(self.initial(np.asarray(steps[0][0], np.float32), decay, epsilon), replicas)
        # a fresh function per scenario: pmap caches its trace by function, and the decay is baked into it
        step = jax.pmap(lambda variables, batches: self.replica(variables, batches), axis_name=AXIS)
        infer = jax.pmap(lambda variables, batches: self.infer(variables, batches), axis_name=AXIS)
        seen = []
        for batches in steps:
            output, variables = step(variables, on_devices(batches))
            mean, variance = (per_replica(v).reshape(replicas, -1) for v in self.moving(variables))
            # outside pmap a script holds what pmap returned: every replica's statistics, stacked
            seen.append({"output": per_replica(output), "mean": mean, "variance": variance,
                         "read": {"mean": mean, "variance": variance},
                         "inference": per_replica(infer(variables, on_devices([batches[0]] * replicas)))})
        return seen


class FlaxLinen(PmapRun):
    """``flax.linen.BatchNorm(axis_name=None)`` under ``pmap``: nothing tells it of the other replica."""

    declared = {**LOCAL, **PMAP}

    def layer(self, axis_name):
        import flax.linen as nn

        return nn.BatchNorm(momentum=self.decay, epsilon=self.epsilon, axis_name=axis_name)

    def initial(self, batch, decay, epsilon):
        import jax

        self.decay, self.epsilon = decay, epsilon
        return self.layer(None).init(jax.random.key(0), batch, use_running_average=False)

    def replica(self, variables, batch):
        output, updates = self.layer(self.axis_name).apply(variables, batch, use_running_average=False, mutable=["batch_stats"])
        return output, {**variables, "batch_stats": updates["batch_stats"]}

    def infer(self, variables, batch):
        return self.layer(self.axis_name).apply(variables, batch, use_running_average=True)

    def moving(self, variables):
        return variables["batch_stats"]["mean"], variables["batch_stats"]["var"]


class FlaxLinenAxisName(FlaxLinen):
    """``flax.linen.BatchNorm(axis_name="replicas")``: batch statistics averaged over the replicas
    (``lax.pmean`` of the mean and of the mean of squares, flax/linen/normalization.py)."""

    axis_name = AXIS
    declared = {**SYNCHRONIZED, **PMAP}


class FlaxNnx(PmapRun):
    """``flax.nnx.BatchNorm(axis_name=None)`` under ``pmap``, split into its graph and state
    (``nnx.split``) and merged back inside each replica, as NNX's guide to ``pmap`` does."""

    declared = {**LOCAL, **PMAP}

    def initial(self, batch, decay, epsilon):
        from flax import nnx

        layer = nnx.BatchNorm(batch.shape[-1], momentum=decay, epsilon=epsilon, axis_name=self.axis_name, rngs=nnx.Rngs(0))
        self.graphdef, state = nnx.split(layer)
        return state

    def replica(self, state, batch):
        from flax import nnx

        layer = nnx.merge(self.graphdef, state)
        output = layer(batch, use_running_average=False)
        return output, nnx.state(layer)

    def infer(self, state, batch):
        from flax import nnx

        return nnx.merge(self.graphdef, state)(batch, use_running_average=True)

    def moving(self, state):
        return state["mean"][...], state["var"][...]


class FlaxNnxAxisName(FlaxNnx):
    """``flax.nnx.BatchNorm(axis_name="replicas")``: linen's ``pmean`` of the batch statistics."""

    axis_name = AXIS
    declared = {**SYNCHRONIZED, **PMAP}


class Haiku(PmapRun):
    """``hk.BatchNorm(cross_replica_axis=None)`` under ``pmap``."""

    declared = {**LOCAL, **PMAP}

    def transformed(self, axis_name, is_training: bool = True):
        import haiku as hk

        return hk.transform_with_state(lambda b: hk.BatchNorm(True, True, self.decay, eps=self.epsilon,
                                                              cross_replica_axis=axis_name)(b, is_training=is_training))

    def initial(self, batch, decay, epsilon):
        import jax

        self.decay, self.epsilon = decay, epsilon
        return self.transformed(None).init(jax.random.key(0), batch)

    def replica(self, variables, batch):
        params, state = variables
        output, state = self.transformed(self.axis_name).apply(params, state, None, batch)
        return output, (params, state)

    def infer(self, variables, batch):
        return self.transformed(self.axis_name, is_training=False).apply(*variables, None, batch)[0]

    def moving(self, variables):
        state = variables[1]
        return state["batch_norm/~/mean_ema"]["average"], state["batch_norm/~/var_ema"]["average"]


class HaikuCrossReplicaAxis(Haiku):
    """``hk.BatchNorm(cross_replica_axis="replicas")``: the mean and the mean of squares ``pmean``-ed."""

    axis_name = AXIS
    declared = {**SYNCHRONIZED, **PMAP}


#: equinox 0.13.8 with jax 0.10.2, measured: mode "ema" sets its first-step flag to a constant
#: (``state.set(first_time, jnp.array(False))``), which under ``pmap`` does not vary over the replicas
#: as the replicated old flag does, and ``State.set`` refuses the swap (the message names no
#: difference: the types differ only in the replicas' axis). Mode "batch" derives what it sets from
#: the old state and runs.
EMA_UNDER_PMAP = DATA_PARALLEL.every_row("cannot run (ValueError: Old and new values have different structures/shapes/dtypes. "
                                         "The old value is bool[] and the new value is bool[].)")


class Equinox(PmapRun):
    """``eqx.nn.BatchNorm(axis_name="batch", mode="ema")`` under ``pmap``: the layer reduces over the
    ``vmap``-ed batch axis of its replica only."""

    mode = "ema"
    #: Equinox takes a sequence of axis names and ``pmean``-s over all of them.
    axis_names: tuple = ("batch",)
    declared = EMA_UNDER_PMAP

    def initial(self, batch, decay, epsilon):
        import equinox as eqx

        self.model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
            batch.shape[-1], self.axis_names, momentum=decay, eps=epsilon, mode=self.mode)
        return state

    def replica(self, state, batch):
        import jax

        return jax.vmap(self.model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(batch, state)

    def infer(self, state, batch):
        import jax

        inference = jax.vmap(lambda x, s: self.model(x, s, inference=True), axis_name="batch", in_axes=(0, None), out_axes=(0, None))
        return inference(batch, state)[0]

    def moving(self, state):
        if self.mode == "ema":
            return state.get(self.model.ema_state_index)
        from adapters.jax.equinox import debias_scale

        # what inference reads in mode "batch": the hidden averages, zero-debiased (adapters/jax/equinox.py)
        scale = debias_scale(self.model.momentum, int(np.asarray(state.get(self.model.batch_counter)).ravel()[0]))
        return tuple(np.asarray(hidden, np.float64) / scale for hidden in state.get(self.model.batch_state_index))


class EquinoxAxisName(Equinox):
    """``eqx.nn.BatchNorm(axis_name=("batch", "replicas"), mode="ema")``: statistics over the batch and the replicas."""

    axis_names = ("batch", AXIS)
    declared = EMA_UNDER_PMAP


class EquinoxBatch(Equinox):
    """``eqx.nn.BatchNorm(axis_name="batch", mode="batch")``."""

    mode = "batch"
    declared = {**LOCAL, **PMAP}


class EquinoxBatchAxisName(EquinoxAxisName):
    """``eqx.nn.BatchNorm(axis_name=("batch", "replicas"), mode="batch")``."""

    mode = "batch"
    declared = {**SYNCHRONIZED, **PMAP}
