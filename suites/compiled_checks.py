"""What a compiler path does to a BatchNorm's training, measured where its column runs, against the
same path run eagerly and the float64 reference of the implementation's declared conventions
(``suites/test_compiled.py``; the paths are in ``workflows/compiled.py``). Agreement is float32's
tolerance (``suites/tolerances.py``): a compiled path that differs beyond it is the finding."""

from __future__ import annotations

import numpy as np

from adapters.probes import first_line
from adapters.reference import ReferenceBatchNorm
from adapters.registry import implementation
from adapters.rows import COMPILED
from adapters.spec import BatchNormSpec
from workflows.registry import COMPILED as COLUMNS

from .tolerances import tolerance

ROW_IDS = COMPILED.row_ids

CHANNELS, DECAY, EPSILON, STEPS = 4, 0.9, 1e-3, 50
_rng = np.random.default_rng(40)
BATCHES = [_rng.normal(3.0, 2.0, size=(16, CHANNELS)).astype(np.float32) for _ in range(STEPS)]
LARGE_MEAN = _rng.normal(1e4, 1e-2, size=(16, CHANNELS)).astype(np.float32)
TOLERANCE = tolerance("float32")


def agree(actual, expected) -> bool:
    return bool(np.allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=TOLERANCE.rtol, atol=TOLERANCE.atol))


def worst(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-30)))


def references(conventions) -> tuple:
    """The reference's moving statistics after the first and after the last of BATCHES."""
    reference = ReferenceBatchNorm(BatchNormSpec(CHANNELS, decay=DECAY, epsilon=EPSILON, dtype="float64"), conventions)
    seen = []
    for batch in BATCHES:
        reference.train_step(batch.astype(np.float64))
        seen.append((reference.moving_mean.copy(), reference.moving_variance.copy()))
    return seen[0], seen[-1]


def against(compiled: tuple, eager: tuple, reference: tuple) -> tuple[str, str]:
    """A step's moving (mean, variance), compiled, against the eager path's and the reference's."""
    evidence = (f"largest relative difference from eager {max(worst(c, e) for c, e in zip(compiled, eager)):.3g}, "
                f"from the reference {max(worst(c, r) for c, r in zip(compiled, reference)):.3g}; "
                f"compiled moving variance {np.round(compiled[1], 5).tolist()}")
    if not all(agree(c, e) for c, e in zip(compiled, eager)):
        return "differs from eager", evidence
    return ("as eager and the reference" if all(agree(c, r) for c, r in zip(compiled, reference)) else "as eager, off the reference"), evidence


def observe(column_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the compiler path ``column_id``; a path the framework refuses
    gives its error as every row's observation."""
    column = COLUMNS[column_id]
    path = column.load()()
    conventions = implementation(column.implementation).load(here=True).declared
    try:
        compiled = path.train(BATCHES, DECAY, EPSILON, compiled=True)
        eager = path.train(BATCHES, DECAY, EPSILON, compiled=False)
        large = (path.stored_variance(LARGE_MEAN, EPSILON, compiled=True), path.stored_variance(LARGE_MEAN, EPSILON, compiled=False))
    except Exception as error:  # the compiler's refusal is the fact
        return {row: (f"cannot run ({first_line(error)})", first_line(error)) for row in ROW_IDS}
    first, last = references(conventions)
    exact = LARGE_MEAN.astype(np.float64).var(0)
    found = {
        "mode": (compiled.mode, f"compiled: {compiled.mode}; eager twin: {eager.mode}"),
        "one_step": against(compiled.first, eager.first, first),
        "fifty_steps": against(compiled.last, eager.last, last),
        "large_mean": ("as eager" if agree(*large) else "differs from eager",
                       f"stored variance compiled {np.asarray(large[0]).round(8).tolist()}, eager {np.asarray(large[1]).round(8).tolist()} "
                       f"(the batch's biased variance in float64: {exact.round(8).tolist()})"),
        "inference": ("as eager" if agree(compiled.inference, eager.inference) else "differs from eager",
                      f"largest relative difference {worst(compiled.inference, eager.inference):.3g}"),
    }
    try:
        means = path.cumulative(BATCHES[:3], EPSILON, compiled=True), path.cumulative(BATCHES[:3], EPSILON, compiled=False)
        found["cumulative"] = ("compiles, as eager" if agree(*means) else "compiles, differs from eager",
                               f"moving mean after 3 batches: compiled {np.round(means[0], 5).tolist()}, eager {np.round(means[1], 5).tolist()}")
    except NotImplementedError as none:
        found["cumulative"] = (str(none), f"no cumulative average: {none}")
    except Exception as error:
        found["cumulative"] = (f"refuses ({first_line(error)})", first_line(error))
    return found
