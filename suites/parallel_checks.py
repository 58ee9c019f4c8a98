"""What a data-parallel BatchNorm does with a global batch split across two replicas, measured in
the run's worker process (``suites/test_data_parallel.py``).

The batches tell the answers apart: replica 0 holds [-1, 0, 1, 0], replica 1 [9, 10, 11, 10] (one
channel). Each replica's own statistics are mean 0 or 10 and variance 0.5; the global batch's are
mean 5 and variance 25.5 (pooled exactly), while the mean of the replicas' variances is 0.5. One
training step at decay 0 stores what entered the moving average.
"""

from __future__ import annotations

import numpy as np

from parallel.registry import RUNS
from reports.matrix import DATA_PARALLEL

ROW_IDS = tuple(row.id for row in DATA_PARALLEL.rows)

REPLICAS = np.array([[[-1.0], [0.0], [1.0], [0.0]], [[9.0], [10.0], [11.0], [10.0]]], np.float32)
EPSILON = 1e-5


def _normalized(batch: np.ndarray, mean: float, variance: float) -> np.ndarray:
    return (batch - mean) / np.sqrt(variance + EPSILON)


def observe(run_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the data-parallel run ``run_id``; a run that cannot run gives
    its error as every row's observation."""
    run = RUNS[run_id].load()()
    scenarios = [(REPLICAS[None], 0.0), (np.stack([REPLICAS, REPLICAS + 100.0]), 0.5)]
    try:
        (first,), two = run.scenarios(scenarios, EPSILON)
    except Exception as error:  # a run the pinned versions refuse: its error is the fact
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return {row: (f"cannot run ({type(error).__name__}: {message})", f"{type(error).__name__}: {message}") for row in ROW_IDS}
    replicas = len(REPLICAS)

    def channel0(values):  # Haiku keeps (1, C) per replica, Flax and PyTorch (C,): channel 0 of each
        return np.asarray(values).reshape(replicas, -1)[:, 0]

    pooled = REPLICAS.reshape(-1, 1)
    global_mean, global_variance = float(pooled.mean()), float(pooled.var())
    local = np.concatenate([_normalized(b, b.mean(), b.var()) for b in REPLICAS])
    synchronized = _normalized(pooled, global_mean, global_variance)
    output = first["output"].reshape(-1, 1)
    normalizes_with = ("global statistics" if np.allclose(output, synchronized, atol=1e-4)
                       else "each replica's own" if np.allclose(output, local, atol=1e-4) else "other")
    means, variances = channel0(first["mean"]), channel0(first["variance"])
    if np.allclose(variances, global_variance, rtol=1e-4):
        combined = "pooled over all replicas"
    elif np.allclose(means, global_mean) and np.allclose(variances, np.mean([b.var() for b in REPLICAS]), rtol=1e-4):
        combined = "mean of the replicas' variances"
    elif np.allclose(means, [b.mean() for b in REPLICAS]):
        combined = "not combined"
    else:
        combined = "other"
    agree = "all replicas hold the same" if np.allclose(means, means[0]) and np.allclose(variances, variances[0]) else "each replica its own"
    evidence = (f"replicas [-1, 0, 1, 0] and [9, 10, 11, 10], decay 0: outputs {np.round(first['output'].reshape(replicas, -1), 3).tolist()}; "
                f"moving mean per replica {means.tolist()}, moving variance per replica {variances.tolist()} "
                f"(global: mean {global_mean:g}, variance {global_variance:g}; per replica: variance 0.5)")
    return {"normalizes_with": (normalizes_with, evidence), "combined_variance": (combined, evidence),
            "replicas_agree": (agree, evidence), "next_step": _next_step(run_id, two, channel0)}


def _next_step(run_id: str, two: list[dict], channel0) -> tuple[str, str]:
    """Two steps at decay 0.5 (the second batches 100 higher): what each replica's moving mean after
    the second step was updated from, against the float64 reference of the layer's own conventions:
    its own first step, replica 0's (broadcast before the step), or one shared by every replica."""
    from adapters.reference import ReferenceBatchNorm
    from adapters.registry import implementation
    from adapters.spec import BatchNormSpec

    conventions = implementation(RUNS[run_id].conventions).load().declared
    second_batches = REPLICAS + 100.0

    def predicted(first_batch, second_batch) -> float:
        reference = ReferenceBatchNorm(BatchNormSpec(1, decay=0.5, epsilon=EPSILON), conventions)
        reference.train_step(first_batch)
        reference.train_step(second_batch)
        return float(reference.moving_mean[0])

    first, second = channel0(two[0]["mean"]), channel0(two[1]["mean"])
    own = [predicted(REPLICAS[r], second_batches[r]) for r in range(len(REPLICAS))]
    broadcast = [predicted(REPLICAS[0], second_batches[r]) for r in range(len(REPLICAS))]
    if np.allclose(second, second[0]):
        observed = "the same on every replica"
    elif np.allclose(second, broadcast, rtol=1e-5):
        observed = "replica 0's, broadcast before each step"
    elif np.allclose(second, own, rtol=1e-5):
        observed = "each replica continues its own"
    else:
        observed = "other"
    return observed, (f"decay 0.5, replicas' batch means 0 and 10, then 100 and 110: moving mean per replica after step 1 "
                      f"{first.tolist()}, after step 2 {second.tolist()}; a replica continuing its own predicts {own}, "
                      f"replica 0's broadcast {broadcast}")
