"""What folding a BatchNorm into the layer before it does to inference, measured where its column
runs (``suites/test_folding.py``; the paths are in ``workflows/folding.py``): the folded model against
the unfolded one, run by the same path in the same dtype, across moving variances from 1e-8 to 1e5
and epsilons 1e-5 and 1e-1. Every variance is in one model: a block of channels each, the layer
before block-diagonal, so that each block computes what a model of its own would (a path converts
once per epsilon and dtype, not once per variance)."""

from __future__ import annotations

import numpy as np

from adapters.probes import first_line
from adapters.rows import FOLDING
from workflows.base import Statistics
from workflows.registry import FOLDING as COLUMNS

from .mixed_precision_checks import band

ROW_IDS = FOLDING.row_ids

CHANNELS = 4
_rng = np.random.default_rng(50)
WEIGHT = _rng.normal(size=(CHANNELS, CHANNELS)).astype(np.float32)
BATCH = _rng.normal(size=(8, CHANNELS)).astype(np.float32)
MEAN, GAMMA, BETA = np.array([0.5, -1.0, 2.0, 3.0]), np.array([1.5, 0.5, -1.0, 2.0]), np.array([0.1, -0.2, 0.3, 0.0])
VARIANCES, EPSILONS = (1e-8, 1e-4, 1.0, 1e3, 1e5), (1e-5, 1e-1)
DTYPES = ("float32", "float16", "bfloat16")
BLOCKS = len(VARIANCES)
#: The model the paths fold: block b holds VARIANCES[b] in each of its CHANNELS, WEIGHT on the diagonal, zeros elsewhere
BLOCK_WEIGHT = np.kron(np.eye(BLOCKS, dtype=np.float32), WEIGHT)
BLOCK_BATCH = np.tile(BATCH, BLOCKS)
BLOCK_STATISTICS = Statistics(np.tile(MEAN, BLOCKS), np.repeat(np.asarray(VARIANCES), CHANNELS), np.tile(GAMMA, BLOCKS),
                              np.tile(BETA, BLOCKS))


def block(values: np.ndarray, index: int) -> np.ndarray:
    """Block ``index``'s channels of an output with its channels on axis 1 ((N, C) or (N, C, 1, 1))."""
    return np.asarray(values).reshape(len(BATCH), BLOCKS, CHANNELS, -1)[:, index]


def relative_error(output: np.ndarray, unfolded: np.ndarray) -> float:
    """The largest difference relative to the largest finite output of the unfolded model; where both
    are the same non-finite value, no difference."""
    output, unfolded = np.asarray(output, np.float64).reshape(unfolded.shape), np.asarray(unfolded, np.float64)
    same = (output == unfolded) | (np.isnan(output) & np.isnan(unfolded))
    with np.errstate(invalid="ignore"):
        difference = np.where(same, 0.0, np.abs(output - unfolded))
    scale = np.max(np.abs(unfolded[np.isfinite(unfolded)]), initial=0.0)
    largest = float(np.max(difference, initial=0.0))
    return largest / scale if np.isfinite(largest) and scale > 0 else (0.0 if largest == 0 else float("inf"))


def observe(column_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the folding path ``column_id``."""
    path = COLUMNS[column_id].load()()
    found, errors, folded = {}, {}, []
    for dtype in DTYPES:
        if dtype not in path.dtypes:
            found[dtype] = ("not offered by the path", f"{column_id} folds in {', '.join(path.dtypes)}")
            continue
        try:
            grid, holds = {}, {}
            for epsilon in EPSILONS:
                run = path.fold(BLOCK_WEIGHT, BLOCK_STATISTICS, epsilon, BLOCK_BATCH, dtype)
                for index, variance in enumerate(VARIANCES):
                    grid[variance, epsilon] = relative_error(block(run.output, index), block(run.unfolded, index))
                holds[epsilon] = run.what
                if dtype == "float32":
                    folded.append((run.folded, run.what))
        except Exception as error:  # the path's refusal of the dtype is the fact
            found[dtype] = (f"refuses ({first_line(error)})", first_line(error))
            if dtype == "float32":
                return {row: (f"cannot run ({first_line(error)})", first_line(error)) for row in ROW_IDS}
            continue
        (variance, epsilon), largest = max(grid.items(), key=lambda item: item[1])
        errors[variance, epsilon, dtype] = largest
        found[dtype] = (band(largest), f"largest relative error {largest:.3g} at variance {variance:g}, epsilon {epsilon:g} "
                                       f"(the folded model: {holds[epsilon]}); "
                                       + ", ".join(f"{v:g}/{e:g}: {x:.2g}" for (v, e), x in grid.items()))
    kinds = {done for done, _ in folded}
    found["folded"] = ("folded" if kinds == {True} else "kept" if kinds == {False} else "folded for some epsilons only",
                       folded[0][1] if folded else "")
    (variance, epsilon, dtype), largest = max(errors.items(), key=lambda item: item[1])
    found["worst_case"] = (f"variance {variance:g}, epsilon {epsilon:g}, {dtype}", f"relative error {largest:.3g}")
    return {row: found[row] for row in ROW_IDS}
