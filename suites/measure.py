"""Measure, do not ask: the conventions an adapter follows, as every row's probe observes them,
printed as a ready ``Conventions(...)`` declaration with its evidence, and the implementations of a
matrix that follow the same conventions row for row (or where each differs).

    bnparity measure numpy_batchnorm.adapter:NumpyBatchNorm

The adapter's own ``declared`` is ignored (a new adapter may have none yet): the probes run on a
subclass whose declaration starts neutral and takes each observation as it comes, because a few
probes read the declaration (the momentum's direction translates the decay into the native
argument; the variance probe's truth is the declared update), and each of those comes after the
probe that measures it. Fields that no row states (``no_moving_statistics``) keep their default;
check them by hand.
"""

from __future__ import annotations

import dataclasses
import pkgutil

from adapters.conventions import BeyondRange, Conventions, HalfPrecision, HalfStep  # noqa: F401 (the declaration's names)
from adapters.probes import Other
from adapters.rows import ROW_IDS, ROWS

#: The id the adapter under measurement has while the probes run.
MEASURED_ID = "measured-adapter"

NEUTRAL = Conventions(momentum_weight="old", default_momentum=None, default_epsilon=1e-5, train_normalize_variance="biased",
                      moving_variance_update="biased", state_names=("", "", "", ""))


class MeasureError(ValueError):
    """The adapter to measure cannot be loaded: the message says why, in one line."""


def load(target: str) -> type:
    """The adapter class named ``module:Class``, or a MeasureError naming what is wrong."""
    module, colon, name = target.partition(":")
    if not module or not colon or not name:
        raise MeasureError(f"{target!r} must be 'module:Class', e.g. numpy_batchnorm.adapter:NumpyBatchNorm")
    try:
        adapter = pkgutil.resolve_name(target)
    except ModuleNotFoundError as error:
        raise MeasureError(f"cannot import {error.name!r} (for {target}): is its package installed, or its folder on "
                           "PYTHONPATH?") from None
    except AttributeError:
        raise MeasureError(f"module {module!r} has no {name!r}") from None
    except Exception as error:  # the module's own import failed: say how, in one line
        raise MeasureError(f"importing {module!r} failed: {type(error).__name__}: {error}") from None
    if not isinstance(adapter, type):
        raise MeasureError(f"{target} is a {type(adapter).__name__}, not an adapter class")
    return adapter


def measure(target: str | type) -> tuple[Conventions, dict[str, tuple[object, str]]]:
    """Run every row's probe on the adapter class (or ``module:Class``); its conventions and the observations
    (row id -> (value, evidence))."""
    adapter = load(target) if isinstance(target, str) else target
    measured = type(adapter.__name__, (adapter,), {"id": MEASURED_ID, "declared": NEUTRAL})
    observations = {}
    for row in ROWS:
        value, evidence = row.probe(measured)
        observations[row.id] = (value, evidence)
        if not isinstance(value, Other):
            measured.declared = dataclasses.replace(measured.declared, **{row.field_name: value})
    return measured.declared, observations


def declaration(conventions: Conventions, observations: dict[str, tuple[object, str]]) -> str:
    """``Conventions(...)`` as Python, each field with the evidence of the probe that set it, on one line."""
    evidence = {row.field_name: " ".join(observations[row.id][1].split()) for row in ROWS if row.id in observations}
    lines = ["declared = Conventions("]
    for field in dataclasses.fields(Conventions):
        value = getattr(conventions, field.name)
        note = f"  # {evidence[field.name]}" if field.name in evidence else "  # not a row of the matrix: check by hand"
        lines.append(f"    {field.name}={value!r},{note}")
    return "\n".join(lines + [")"])


def shown(observations: dict[str, tuple[object, str]]) -> dict[str, str]:
    """The observations as the matrix writes them."""
    return {row.id: row.show(observations[row.id][0]) for row in ROWS if row.id in observations}


def comparison(measured: dict[str, str], matrix: dict[str, dict[str, str]]) -> list[str]:
    """A matrix's implementations (implementation -> row -> shown value) by how many rows they differ
    from ``measured``, with the differences."""
    distance = {impl: [r for r in ROW_IDS if cells.get(r) != measured[r]] for impl, cells in matrix.items()}
    lines = []
    for impl, differing in sorted(distance.items(), key=lambda kv: (len(kv[1]), kv[0])):
        if not differing:
            lines.append(f"  {impl}: the same conventions, row for row")
        else:
            lines.append(f"  {impl}: differs in {len(differing)} of {len(ROW_IDS)} rows: "
                         + "; ".join(f"{r} {matrix[impl].get(r)!r}" for r in differing))
    return lines
