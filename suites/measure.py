"""Measure, do not ask: the conventions an adapter follows, as every probe observes them, printed
as a ready ``Conventions(...)`` declaration with its evidence, and the implementations of the
committed matrix that follow the same conventions row for row (or where each differs).

    python -m suites.measure numpy_batchnorm.adapter:NumpyBatchNorm

The adapter's own ``declared`` is ignored (a new adapter may have none yet): the probes run on a
subclass whose declaration starts neutral and takes each observation as it comes, because a few
probes read the declaration (the momentum's direction translates the decay into the native
argument; the variance probe's truth is the declared update), and each of those comes after the
probe that measures it. Rows that the matrix does not have (``no_moving_statistics``) keep their
default; check them by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
from pathlib import Path

from adapters.conventions import Conventions
from adapters.registry import IMPLEMENTATIONS, Implementation
from reports.matrix import ROW_IDS
from reports.plugin import COMMITTED

from .probes import PROBES

#: The id the adapter under measurement is registered with while the probes run.
MEASURED_ID = "measured-adapter"
#: The class under measurement, where the registry's "module:Class" finds it.
MEASURED = None

NEUTRAL = Conventions(momentum_weight="old", default_momentum=None, default_epsilon=1e-5, train_normalize_variance="biased",
                      moving_variance_update="biased", state_names=("", "", "", ""))


def fields(row: str, observed: str) -> dict:
    """The Conventions fields that an observation of ``row`` sets (the inverse of Conventions.cells)."""
    if observed.startswith("other"):
        return {}
    if row == "default_momentum":
        return {row: None if observed == "required" else float(observed)}
    if row in ("default_epsilon", "initial_mean", "initial_variance"):
        return {row: float(observed)}
    if row == "cumulative_average":
        return {row: "(its native argument)" if observed == "yes" else None}
    if row == "variance_robustness":
        return {"one_pass_variance": observed == "lossy"}
    if row == "state_names":
        return {row: tuple(observed.split(", "))}
    return {row: observed}


def measure(target: str) -> tuple[Conventions, dict[str, tuple[str, str]]]:
    """Run every probe on the adapter class ``module:Class``; its conventions and the observations."""
    global MEASURED
    module, _, name = target.partition(":")
    adapter = getattr(importlib.import_module(module), name)
    MEASURED = type(adapter.__name__, (adapter,), {"id": MEASURED_ID, "declared": NEUTRAL})
    IMPLEMENTATIONS[MEASURED_ID] = Implementation(MEASURED_ID, "measured", f"{__name__}:MEASURED", (), (), shipped=False)
    observations = {}
    try:
        for row in ROW_IDS:
            observations[row] = PROBES[row](MEASURED_ID)
            MEASURED.declared = dataclasses.replace(MEASURED.declared, **fields(row, observations[row][0]))
    finally:
        del IMPLEMENTATIONS[MEASURED_ID]
    return MEASURED.declared, observations


def committed_cells(path: Path = COMMITTED) -> dict[str, dict[str, str]]:
    """implementation -> row -> observed value, read back from the committed CONVENTIONS.md."""
    cells: dict[str, dict[str, str]] = {}
    row = None
    for line in path.read_text().splitlines():
        heading = re.match(r"## .* \(`(\w+)`\)$", line)
        if heading:
            row = heading.group(1)
            continue
        cell = re.match(r"\| `([\w-]+)` \| (.*?) \| .*\|$", line)
        if row and cell:
            observed = re.sub(r" \(\*\*declared: .*\*\*\)$", "", cell.group(2)).replace("\\|", "|")
            cells.setdefault(cell.group(1), {})[row] = observed
    return cells


def declaration(conventions: Conventions, observations: dict[str, tuple[str, str]]) -> str:
    """``Conventions(...)`` as Python, each field with the evidence of the probe that set it."""
    evidence = {}
    for row, (_, said) in observations.items():
        for field in fields(row, observations[row][0]) or {row: None}:
            evidence[field] = said
    lines = ["declared = Conventions("]
    for field in dataclasses.fields(Conventions):
        value = getattr(conventions, field.name)
        note = f"  # {evidence[field.name]}" if field.name in evidence else "  # not a row of the matrix: check by hand"
        lines.append(f"    {field.name}={value!r},{note}")
    return "\n".join(lines + [")"])


def comparison(measured: dict[str, str], committed: dict[str, dict[str, str]]) -> list[str]:
    """The committed implementations by how many rows they differ from ``measured``, with the differences."""
    distance = {impl: [r for r in ROW_IDS if cells.get(r) != measured[r]] for impl, cells in committed.items()}
    lines = []
    for impl, differing in sorted(distance.items(), key=lambda kv: (len(kv[1]), kv[0])):
        if not differing:
            lines.append(f"  {impl}: the same conventions, row for row")
        else:
            lines.append(f"  {impl}: differs in {len(differing)} of {len(ROW_IDS)} rows: "
                         + "; ".join(f"{r} {committed[impl].get(r)!r}" for r in differing))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("adapter", metavar="MODULE:CLASS", help="the adapter class to measure")
    parser.add_argument("--closest", type=int, default=5, help="how many committed implementations to compare with")
    args = parser.parse_args(argv)
    if ":" not in args.adapter:
        parser.error(f"{args.adapter!r} must be 'module:Class'")
    conventions, observations = measure(args.adapter)
    print(f"# {args.adapter}, measured by every probe of the conventions matrix\n")
    print(declaration(conventions, observations))
    print(f"\nClosest implementations of the committed matrix ({COMMITTED.name}):")
    print("\n".join(comparison(conventions.cells(), committed_cells())[: args.closest]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
