"""Every data-parallel run, by id, and the worker process kind it runs in."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.registry import Column


@dataclass(frozen=True)
class DataParallelRun(Column):
    """A data-parallel run: ``target`` is its class, ``worker`` the worker kind whose process-wide
    set-up (two CPU devices for JAX) it needs."""

    worker: str = "jax-replicas"


_JAX = ("jax", "jaxlib")
RUNS: dict[str, DataParallelRun] = {r.id: r for r in (
    DataParallelRun("jax-flax_linen-pmap-axis_name", "parallel.jax_pmap:FlaxLinenAxisName", (*_JAX, "flax"), ("jax",)),
    DataParallelRun("jax-flax_linen-pmap", "parallel.jax_pmap:FlaxLinen", (*_JAX, "flax"), ("jax",)),
    DataParallelRun("jax-haiku-pmap-cross_replica_axis", "parallel.jax_pmap:HaikuCrossReplicaAxis", (*_JAX, "dm-haiku"), ("jax",)),
    DataParallelRun("jax-haiku-pmap", "parallel.jax_pmap:Haiku", (*_JAX, "dm-haiku"), ("jax",)),
)}
