"""Every data-parallel run, by id, and the worker process kind it runs in."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.registry import Column


@dataclass(frozen=True)
class DataParallelRun(Column):
    """A data-parallel run: ``target`` is its class, ``worker`` the worker kind whose process-wide
    set-up (two CPU devices for JAX) it needs."""

    worker: str = "jax-replicas"
    #: The implementation whose declared conventions a replica follows on its own (the prediction of each reading).
    conventions: str = ""


_JAX = ("jax", "jaxlib")
RUNS: dict[str, DataParallelRun] = {r.id: r for r in (
    DataParallelRun("jax-flax_linen-pmap-axis_name", "parallel.jax_pmap:FlaxLinenAxisName", (*_JAX, "flax"), ("jax",),
                    conventions="jax-flax_linen"),
    DataParallelRun("jax-flax_linen-pmap", "parallel.jax_pmap:FlaxLinen", (*_JAX, "flax"), ("jax",), conventions="jax-flax_linen"),
    DataParallelRun("jax-haiku-pmap-cross_replica_axis", "parallel.jax_pmap:HaikuCrossReplicaAxis", (*_JAX, "dm-haiku"), ("jax",),
                    conventions="jax-haiku"),
    DataParallelRun("jax-haiku-pmap", "parallel.jax_pmap:Haiku", (*_JAX, "dm-haiku"), ("jax",), conventions="jax-haiku"),
    DataParallelRun("jax-flax_nnx-pmap-axis_name", "parallel.jax_pmap:FlaxNnxAxisName", (*_JAX, "flax"), ("jax",),
                    conventions="jax-flax_nnx"),
    DataParallelRun("jax-flax_nnx-pmap", "parallel.jax_pmap:FlaxNnx", (*_JAX, "flax"), ("jax",), conventions="jax-flax_nnx"),
    DataParallelRun("jax-equinox_ema-pmap-axis_name", "parallel.jax_pmap:EquinoxAxisName", (*_JAX, "equinox"), ("jax",),
                    conventions="jax-equinox_ema"),
    DataParallelRun("jax-equinox_ema-pmap", "parallel.jax_pmap:Equinox", (*_JAX, "equinox"), ("jax",), conventions="jax-equinox_ema"),
    DataParallelRun("jax-equinox_batch-pmap-axis_name", "parallel.jax_pmap:EquinoxBatchAxisName", (*_JAX, "equinox"), ("jax",),
                    conventions="jax-equinox_batch"),
    DataParallelRun("jax-equinox_batch-pmap", "parallel.jax_pmap:EquinoxBatch", (*_JAX, "equinox"), ("jax",),
                    conventions="jax-equinox_batch"),
    DataParallelRun("tensorflow-keras3-mirrored", "parallel.keras_mirrored:KerasMirrored", ("tensorflow", "keras"),
                    ("tensorflow",), worker="tf-replicas", conventions="tensorflow-keras3"),
    DataParallelRun("tensorflow-keras3-mirrored-synchronized", "parallel.keras_mirrored:KerasMirroredSynchronized",
                    ("tensorflow", "keras"), ("tensorflow",), worker="tf-replicas", conventions="tensorflow-keras3"),
    DataParallelRun("tensorflow-tf_keras-mirrored", "parallel.keras_mirrored:TfKerasMirrored", ("tensorflow", "tf-keras"),
                    ("tensorflow",), worker="tf-replicas", conventions="tensorflow-tf_keras"),
    DataParallelRun("tensorflow-tf_keras-mirrored-synchronized", "parallel.keras_mirrored:TfKerasMirroredSynchronized",
                    ("tensorflow", "tf-keras"), ("tensorflow",), worker="tf-replicas", conventions="tensorflow-tf_keras"),
    DataParallelRun("torch-ddp", "parallel.torch_ddp:TorchDdpBroadcast", ("torch",), ("torch",), worker="torch-ddp",
                    conventions="torch-batchnorm1d"),
    DataParallelRun("torch-ddp-no_broadcast", "parallel.torch_ddp:TorchDdp", ("torch",), ("torch",), worker="torch-ddp",
                    conventions="torch-batchnorm1d"),
    DataParallelRun("torch-ddp-syncbatchnorm", "parallel.torch_ddp:TorchSyncBatchNorm", ("torch",), ("torch",), worker="torch-ddp",
                    conventions="torch-batchnorm1d"),
)}
