"""What a frozen BatchNorm does in a fine-tuning step, measured where its column runs
(``suites/test_frozen.py``; the mechanisms are in ``workflows/frozen.py``).

The batch's channels have means near 3 and 5 and standard deviations near 2, far from the fresh
layer's moving statistics (0 and 1): normalized with its own statistics, the output has mean 0 in
each channel; with the moving ones, it is the batch itself. Either way gamma and beta enter as they
were before the step, and the optimizer's step moves them only where they receive gradients.
"""

from __future__ import annotations

import numpy as np

from adapters.probes import first_line
from adapters.rows import FROZEN
from workflows.base import BATCH_STATISTICS, MOVING_STATISTICS, FineTuningStep, after_switch
from workflows.registry import FROZEN as COLUMNS

ROW_IDS = FROZEN.row_ids

BATCH = np.random.default_rng(20).normal([3.0, 5.0], 2.0, size=(8, 2)).astype(np.float32)
TARGET = np.random.default_rng(21).normal(size=(8, 2)).astype(np.float32)
LEARNING_RATE, DECAY, EPSILON = 0.5, 0.5, 1e-3
#: float32 arithmetic on values near 1 against the float64 formulas here
TOLERANCE = 1e-4


def normalizes_with(step: FineTuningStep) -> str:
    """Which statistics the step's output was normalized with, given the tensors it was computed with."""
    x, before = BATCH.astype(np.float64), step.before
    candidates = {BATCH_STATISTICS: (x.mean(0), x.var(0)), MOVING_STATISTICS: (before.mean, before.variance)}
    for name, (mean, variance) in candidates.items():
        expected = (x - mean) / np.sqrt(variance + EPSILON) * before.gamma + before.beta
        if np.allclose(step.output, expected, rtol=TOLERANCE, atol=TOLERANCE):
            return name
    return "other"


def moved(before: np.ndarray, after: np.ndarray) -> bool:
    return not np.allclose(before, after, rtol=0, atol=1e-7)


def described(step: FineTuningStep) -> tuple[str, str, str]:
    """(normalizes_with, moving_statistics, gamma_beta) of one step, in the matrix's words."""
    statistics = moved(step.before.mean, step.after.mean) or moved(step.before.variance, step.after.variance)
    parameters = moved(step.before.gamma, step.after.gamma) or moved(step.before.beta, step.after.beta)
    return normalizes_with(step), "updated" if statistics else "unchanged", "trained" if parameters else "unchanged"


def evidence(step: FineTuningStep) -> str:
    x = BATCH.astype(np.float64)
    return (f"batch mean {np.round(x.mean(0), 4).tolist()}, variance {np.round(x.var(0), 4).tolist()}; "
            f"output row 0 {np.round(step.output[0], 4).tolist()} (batch row 0 {np.round(x[0], 4).tolist()}); "
            f"moving mean {np.round(step.before.mean, 4).tolist()} -> {np.round(step.after.mean, 4).tolist()}, "
            f"variance {np.round(step.before.variance, 4).tolist()} -> {np.round(step.after.variance, 4).tolist()}; "
            f"gamma {np.round(step.before.gamma, 4).tolist()} -> {np.round(step.after.gamma, 4).tolist()}, "
            f"beta {np.round(step.before.beta, 4).tolist()} -> {np.round(step.after.beta, 4).tolist()}"
            + (f"; {step.note}" if step.note else ""))


def observe(column_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the frozen column ``column_id``; a mechanism the framework
    refuses gives its error as every row's observation."""
    frozen = COLUMNS[column_id].load()()
    try:
        steps = frozen.fine_tune(BATCH, TARGET, LEARNING_RATE, DECAY, EPSILON)
    except Exception as error:  # the framework's refusal is the fact
        return {row: (f"cannot run ({first_line(error)})", first_line(error)) for row in ROW_IDS}
    first = described(steps[0])
    found = dict(zip(("normalizes_with", "moving_statistics", "gamma_beta"), ((value, evidence(steps[0])) for value in first)))
    if frozen.parent_switch is None:
        found["parent_switch"] = (frozen.no_parent_switch, "no parent's training switch: " + frozen.no_parent_switch)
    else:
        if isinstance(steps[1], Exception):  # the switch itself refused
            found["parent_switch"] = (f"refuses ({first_line(steps[1])})", f"{frozen.parent_switch}: {first_line(steps[1])}")
            return found
        second = described(steps[1])
        effect = "changes nothing" if second == first else "unfreezes it"
        found["parent_switch"] = (after_switch(effect, *second),
                                  f"after {frozen.parent_switch}: {evidence(steps[1])}")
    return found
