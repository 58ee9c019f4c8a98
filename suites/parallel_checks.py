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

REPLICAS = np.array([[[-1.0], [0.0], [1.0], [0.0]], [[9.0], [10.0], [11.0], [10.0]]], np.float32)
EPSILON = 1e-5


def _normalized(batch: np.ndarray, mean: float, variance: float) -> np.ndarray:
    return (batch - mean) / np.sqrt(variance + EPSILON)


def observe(run_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the data-parallel run ``run_id``."""
    result = RUNS[run_id].load()().step(REPLICAS, 0.0, EPSILON)
    pooled = REPLICAS.reshape(-1, 1)
    global_mean, global_variance = float(pooled.mean()), float(pooled.var())
    local = np.concatenate([_normalized(b, b.mean(), b.var()) for b in REPLICAS])
    synchronized = _normalized(pooled, global_mean, global_variance)
    output = result["output"].reshape(-1, 1)
    normalizes_with = ("global statistics" if np.allclose(output, synchronized, atol=1e-4)
                       else "each replica's own" if np.allclose(output, local, atol=1e-4) else "other")
    replicas = len(REPLICAS)  # Haiku keeps (1, C) per replica, Flax (C,): channel 0 of each
    means, variances = result["mean"].reshape(replicas, -1)[:, 0], result["variance"].reshape(replicas, -1)[:, 0]
    if np.allclose(variances, global_variance, rtol=1e-4):
        combined = "pooled over all replicas"
    elif np.allclose(means, global_mean) and np.allclose(variances, np.mean([b.var() for b in REPLICAS]), rtol=1e-4):
        combined = "mean of the replicas' variances"
    elif np.allclose(means, [b.mean() for b in REPLICAS]):
        combined = "not combined"
    else:
        combined = "other"
    agree = "all replicas hold the same" if np.allclose(means, means[0]) and np.allclose(variances, variances[0]) else "each replica its own"
    evidence = (f"replicas [-1, 0, 1, 0] and [9, 10, 11, 10], decay 0: outputs {np.round(result['output'][:, :, 0], 3).tolist()}; "
                f"moving mean per replica {means.tolist()}, moving variance per replica {variances.tolist()} "
                f"(global: mean {global_mean:g}, variance {global_variance:g}; per replica: variance 0.5)")
    return {"normalizes_with": (normalizes_with, evidence), "combined_variance": (combined, evidence),
            "replicas_agree": (agree, evidence)}
