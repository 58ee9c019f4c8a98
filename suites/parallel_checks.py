"""What a data-parallel BatchNorm does with a global batch split across two replicas, measured in
the run's worker process (``suites/test_data_parallel.py``).

The batches tell the answers apart: replica 0 holds [-1, 0, 1, 0], replica 1 [9, 10, 11, 10] (one
channel). Each replica's own statistics are mean 0 or 10 and variance 0.5; the global batch's are
mean 5 and variance 25.5 (pooled exactly), while the mean of the replicas' variances is 0.5. One
training step at decay 0 stores what entered the moving average: the variance itself, or n/(n-1)
of it (4/3 with each replica's count of 4, 8/7 with the global count of 8). Replicas of unequal
sizes, [-1, 0, 1, 0, -1, 1] and [9, 11], have a count-weighted global mean of 2.5 and an
equal-weight one of 5.
"""

from __future__ import annotations

import numpy as np

from adapters.rows import DATA_PARALLEL
from parallel.base import UnequalSlicesRefused
from parallel.registry import RUNS

ROW_IDS = DATA_PARALLEL.row_ids

REPLICAS = np.array([[[-1.0], [0.0], [1.0], [0.0]], [[9.0], [10.0], [11.0], [10.0]]], np.float32)
UNEVEN = [np.array([[-1.0], [0.0], [1.0], [0.0], [-1.0], [1.0]], np.float32), np.array([[9.0], [11.0]], np.float32)]
EPSILON = 1e-5
#: What may multiply a stored variance: none, the global count's N/(N-1), each replica's n/(n-1).
CORRECTIONS = {"none (the biased variance)": 1.0, "N/(N-1) of the global count": 8 / 7, "n/(n-1) of each replica's count": 4 / 3}


def _normalized(batch: np.ndarray, mean: float, variance: float) -> np.ndarray:
    return (batch - mean) / np.sqrt(variance + EPSILON)


def _correction(variances: np.ndarray, variance: float) -> str | None:
    """Which of CORRECTIONS turns ``variance`` into every replica's stored ``variances``, if one does."""
    return next((name for name, factor in CORRECTIONS.items() if np.allclose(variances, variance * factor, rtol=1e-4)), None)


def observe(run_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the data-parallel run ``run_id``; a run that cannot run gives
    its error as every row's observation."""
    run = RUNS[run_id].load()()
    scenarios = [([REPLICAS], 0.0), ([REPLICAS, REPLICAS + 100.0], 0.5), ([UNEVEN], 0.0)]
    try:
        (first,), two, uneven = run.scenarios(scenarios, EPSILON)
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
    output = np.concatenate([np.asarray(o).reshape(-1, 1) for o in first["output"]])
    normalizes_with = ("global statistics" if np.allclose(output, synchronized, atol=1e-4)
                       else "each replica's own" if np.allclose(output, local, atol=1e-4) else "other")
    means, variances = channel0(first["mean"]), channel0(first["variance"])
    local_variance = float(REPLICAS[0].var())  # each replica's: 0.5
    if np.allclose(means, global_mean) and (count := _correction(variances, global_variance)):
        combined = "pooled over all replicas"
    elif np.allclose(means, global_mean) and (count := _correction(variances, local_variance)):
        combined = "mean of the replicas' variances"
    elif np.allclose(means, [b.mean() for b in REPLICAS]):
        combined, count = "not combined", _correction(variances, local_variance) or "other"
    else:
        combined, count = "other", "other"
    agree = "all replicas hold the same" if np.allclose(means, means[0]) and np.allclose(variances, variances[0]) else "each replica its own"
    evidence = (f"replicas [-1, 0, 1, 0] and [9, 10, 11, 10], decay 0: outputs "
                f"{[np.round(np.asarray(o).ravel(), 3).tolist() for o in first['output']]}; "
                f"moving mean per replica {means.tolist()}, moving variance per replica {variances.tolist()} "
                f"(global: mean {global_mean:g}, variance {global_variance:g}; per replica: variance 0.5; "
                f"n/(n-1) is 4/3 with a replica's 4 examples, 8/7 with all 8)")
    return {"normalizes_with": (normalizes_with, evidence), "combined_variance": (combined, evidence),
            "replicas_agree": (agree, evidence), "unbiased_count": (count, evidence),
            "uneven_replicas": _uneven(uneven, channel0), "read_outside": _read_outside(first, means, variances, channel0),
            "inference": _inference(first, means, variances),
            "next_step": _next_step(run_id, two, channel0)}


def _uneven(uneven, channel0) -> tuple[str, str]:
    """One step at decay 0 on replicas of 6 and 2 examples: the moving mean each replica stores."""
    if isinstance(uneven, UnequalSlicesRefused):
        return "equal slices only", f"replicas of 6 and 2 examples refused: {uneven}"
    (step,) = uneven
    means = channel0(step["mean"])
    pooled = np.concatenate(UNEVEN)
    own = [float(b.mean()) for b in UNEVEN]
    weighted, equal = float(pooled.mean()), float(np.mean(own))
    if np.allclose(means, weighted):
        observed = "weighted by count"
    elif np.allclose(means, equal):
        observed = "each replica weighs the same"
    elif np.allclose(means, own):
        observed = "not combined"
    else:
        observed = "other"
    return observed, (f"replicas [-1, 0, 1, 0, -1, 1] and [9, 11], decay 0: moving mean per replica {means.tolist()} "
                      f"(weighted by count: {weighted:g}; each replica weighing the same: {equal:g}; each its own: "
                      f"{own[0]:g} and {own[1]:g})")


def _inference(first: dict, means: np.ndarray, variances: np.ndarray) -> tuple[str, str]:
    """Each replica's inference output on replica 0's batch after the decay-0 step, against that batch
    normalized with each replica's own moving statistics (gamma 1, beta 0: the layers' initial ones)."""
    batch = REPLICAS[0][:, 0].astype(np.float64)
    outputs = np.asarray(first["inference"], np.float64).reshape(len(means), -1)
    own = np.stack([_normalized(batch, m, v) for m, v in zip(means, variances)])
    replica0 = np.stack([own[0]] * len(means))
    if np.allclose(outputs, own, atol=1e-4):
        observed = "the same on every replica" if np.allclose(own, own[0], atol=1e-4) else "each replica its own moving statistics"
    elif np.allclose(outputs, replica0, atol=1e-4):
        observed = "replica 0's moving statistics on every replica"
    else:
        observed = "other"
    return observed, (f"replica 0's batch [-1, 0, 1, 0] in inference after the decay-0 step: outputs per replica "
                      f"{np.round(outputs, 3).tolist()}; with each replica's own moving statistics {np.round(own, 3).tolist()}")


def _read_outside(first: dict, means: np.ndarray, variances: np.ndarray, channel0) -> tuple[str, str]:
    """The moving statistics as a script reads them outside the replicas after the first step."""
    read = first["read"]
    mean, variance = np.asarray(read["mean"], np.float64), np.asarray(read["variance"], np.float64)
    if mean.size == np.asarray(first["mean"]).size:  # as many values as all the replicas hold
        observed = "one value per replica (stacked)"
        read_mean, read_variance = channel0(mean).tolist(), channel0(variance).tolist()
    else:
        read_mean, read_variance = float(mean.ravel()[0]), float(variance.ravel()[0])
        if np.allclose(means, means[0]) and np.allclose(variances, variances[0]) and np.allclose([read_mean, read_variance], [means[0], variances[0]]):
            observed = "the value every replica holds"
        elif np.allclose([read_mean, read_variance], [means[0], variances[0]]):
            observed = "replica 0's"
        elif np.allclose([read_mean, read_variance], [means.mean(), variances.mean()]):
            observed = "the mean over replicas"
        else:
            observed = "other"
    return observed, (f"after the decay-0 step, per replica: mean {means.tolist()}, variance {variances.tolist()}; "
                      f"read outside the replicas: mean {read_mean}, variance {read_variance}")


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
