"""Data-parallel BatchNorm: each run (``parallel/``) on a global batch split across two replicas in
its framework's own data-parallel machinery, one matrix cell per run and row, checked against what
the run declares. Runs happen in worker processes that set the replicas up (``jax-replicas``: two
CPU devices); a worker that dies or hangs fails the run's cases with its error (adapters/worker.py)."""

from __future__ import annotations

import functools

import pytest

from parallel.registry import RUNS
from reports.matrix import DATA_PARALLEL

from .parallel_checks import observe  # noqa: F401  (what the worker runs: suites.parallel_checks:observe)

ROW_IDS = tuple(row.id for row in DATA_PARALLEL.rows)


def run_params() -> list:
    return [pytest.param(run_id, id=run_id, marks=[getattr(pytest.mark, f) for f in run.frameworks]) for run_id, run in RUNS.items()]


@functools.lru_cache(maxsize=None)
def observed(run_id: str) -> dict[str, tuple[str, str]]:
    from adapters.worker import Worker

    return Worker.get(RUNS[run_id].worker).call("call", "suites.parallel_checks:observe", run_id)


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("run_id", run_params())
def test_data_parallel_run_does_what_it_declares(run_id, row, record_section_cell):
    run = RUNS[run_id]
    missing = run.missing()
    if missing:
        pytest.skip(f"{run_id} needs {', '.join(missing)}, not installed (pip install -e '.[jax]')")
    value, evidence = observed(run_id)[row]
    declared = run.load().declared.get(row, "undeclared")
    record_section_cell(DATA_PARALLEL, run_id, row, value, declared, evidence)
    assert value == declared, f"{run_id} {row}: observed {value!r}, declared {declared!r} ({evidence})"
