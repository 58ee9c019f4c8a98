"""PyTorch ``BatchNorm1d`` under ``DistributedDataParallel`` (gloo, two processes on this machine),
with DDP's buffer broadcasting on (its default) and off, and ``torch.nn.SyncBatchNorm``.

The runs share two ranks spawned from the ``torch-ddp`` worker (``torch.multiprocessing.spawn``,
rendezvous in a temporary file, every collective bounded by a 60 s timeout), which train every run in
turn; each rank writes what it saw to a JSON file, read back here. What a rank raised in a run
(SyncBatchNorm on CPU) is that run's observation.
"""

from __future__ import annotations

import datetime
import functools
import json
import tempfile
from pathlib import Path

import numpy as np

from adapters.rows import DATA_PARALLEL

from .base import DataParallel
from .jax_pmap import LOCAL

#: How long a rank waits for the other at any collective before it fails (gloo's own timeout).
COLLECTIVE_TIMEOUT_S = 60


def _rank(rank: int, world: int, init: str, out: str, runs: dict, scenarios: list, epsilon: float) -> None:
    """One rank: for each run (its DDP options) and each of its scenarios (steps, decay), a fresh
    layer under DDP trained on this rank's slices; what a run raised is that run's result."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    results = {}
    for name, options in runs.items():
        try:
            results[name] = {"scenarios": [_scenario(rank, options, steps, decay, epsilon) for steps, decay in scenarios]}
        except Exception as error:  # the framework's refusal is the run's observation
            results[name] = {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"}
    written = Path(out, f"{rank}.json.part")
    written.write_text(json.dumps(results))
    written.rename(written.with_suffix(""))  # whole or absent: a rank may die after this (see _spawned)
    dist.barrier()  # neither rank tears gloo down while the other may still use it
    dist.destroy_process_group()


def _scenario(rank: int, options: dict, steps: list, decay: float, epsilon: float) -> list[dict]:
    import torch

    layer = torch.nn.BatchNorm1d(len(steps[0][rank][0]), momentum=1.0 - decay, eps=epsilon)
    if options.get("sync"):
        layer = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(layer))[0]
    model = torch.nn.parallel.DistributedDataParallel(layer, broadcast_buffers=options.get("broadcast_buffers", True))
    model.train()
    seen = []
    for batches in steps:
        output = model(torch.tensor(batches[rank], dtype=torch.float32))
        saved = model.module.state_dict()  # what this rank would save as a checkpoint
        running = {"mean": layer.running_mean.double().tolist(), "variance": layer.running_var.double().tolist()}
        model.eval()  # inference through the DDP wrapper, as an evaluation loop runs it
        with torch.no_grad():
            inference = model(torch.tensor(batches[0], dtype=torch.float32))
        model.train()
        seen.append({"output": output.detach().double().numpy().tolist(), **running,
                     "read": {"mean": saved["running_mean"].double().tolist(), "variance": saved["running_var"].double().tolist()},
                     "inference": inference.double().numpy().tolist()})
    return seen


@functools.cache
def _spawned(runs_json: str, scenarios_json: str, epsilon: float) -> dict[str, list[dict]]:
    """run name -> each rank's result, for every run of ``runs_json`` from one pair of spawned ranks:
    a spawn costs both ranks a PyTorch import (~3 s), so the DDP runs of a suite share one, made by
    whichever is asked first (kept for this worker process's life; the others read it)."""
    import torch.multiprocessing as mp

    runs, scenarios = json.loads(runs_json), json.loads(scenarios_json)
    replicas = len(scenarios[0][0][0])
    with tempfile.TemporaryDirectory() as folder:
        try:
            mp.spawn(_rank, nprocs=replicas, join=True, args=(replicas, f"file://{folder}/rendezvous", folder, runs, scenarios, epsilon))
        except mp.ProcessExitedException:
            # Seen once, on a loaded machine: a rank killed by SIGABRT as gloo was torn down, after
            # both ranks had written what they saw. Their observations stand; a rank that died
            # before writing its file is the run's error.
            if not all(Path(folder, f"{r}.json").exists() for r in range(replicas)):
                raise
        ranks = [json.loads(Path(folder, f"{r}.json").read_text()) for r in range(replicas)]
    return {name: [r[name] for r in ranks] for name in runs}


class RankError(RuntimeError):
    """What a rank raised, as it said it: "<ExceptionType>: <first line>"."""


class TorchDdp(DataParallel):
    """``DistributedDataParallel(BatchNorm1d, broadcast_buffers=False)``: each rank its own statistics."""

    options: dict = {"broadcast_buffers": False}
    # each rank is a process of its own: a read is a rank's, and rank 0 is the one that saves checkpoints
    declared = {**LOCAL, "read_outside": "replica 0's", "unbiased_count": "n/(n-1) of each replica's count"}

    def steps(self, steps: list, decay: float, epsilon: float) -> list[dict]:
        return self.scenarios([(steps, decay)], epsilon)[0]

    def scenarios(self, scenarios: list, epsilon: float) -> list[list[dict]]:
        """``steps`` for each (steps, decay) of ``scenarios``, in the pair of ranks every DDP run shares (``_spawned``)."""
        as_lists = [([[np.asarray(batch).tolist() for batch in batches] for batches in steps], decay) for steps, decay in scenarios]
        runs = {run.__name__: run.options for run in (*SHARED_SPAWN, type(self))}
        ranks = _spawned(json.dumps(runs, sort_keys=True), json.dumps(as_lists), epsilon)[type(self).__name__]
        errors = [r["error"] for r in ranks if "error" in r]
        if errors:
            raise RankError(errors[0])

        def step(c: int, s: int) -> dict:
            seen = [r["scenarios"][c][s] for r in ranks]
            return {"output": [np.array(r["output"]) for r in seen], "mean": np.array([r["mean"] for r in seen]),
                    "variance": np.array([r["variance"] for r in seen]), "inference": np.array([r["inference"] for r in seen]),
                    "read": {key: np.array(value) for key, value in seen[0]["read"].items()}}

        return [[step(c, s) for s in range(len(steps))] for c, (steps, _) in enumerate(scenarios)]


class TorchDdpBroadcast(TorchDdp):
    """``DistributedDataParallel(BatchNorm1d)``, whose default ``broadcast_buffers=True`` copies rank 0's
    buffers to every rank at the start of each forward pass: the moving statistics each rank updates
    from are rank 0's (torch/nn/parallel/distributed.py, _sync_buffers)."""

    options = {"broadcast_buffers": True}
    # the broadcast happens at every forward through the wrapper, an inference forward included
    declared = {**TorchDdp.declared, "next_step": "replica 0's, broadcast before each step",
                "inference": "replica 0's moving statistics on every replica"}


class TorchSyncBatchNorm(TorchDdp):
    """``torch.nn.SyncBatchNorm`` under DDP on CPU tensors."""

    options = {"sync": True}
    # torch 2.13.0: DistributedDataParallel refuses it at construction on CPU (measured)
    declared = DATA_PARALLEL.every_row("cannot run (RankError: ValueError: SyncBatchNorm layers only work with GPU modules)")


#: The runs whose ranks one spawn serves (``_spawned``).
SHARED_SPAWN = (TorchDdp, TorchDdpBroadcast, TorchSyncBatchNorm)
