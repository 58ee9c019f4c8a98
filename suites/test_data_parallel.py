"""Data-parallel BatchNorm: each run (``parallel/``) on a global batch split across two replicas in
its framework's own data-parallel machinery, one matrix cell per run and row, checked against what
the run declares. Runs happen in worker processes that set the replicas up (``jax-replicas``: two
CPU devices); a worker that dies or hangs fails the run's cases with its error (adapters/worker.py)."""

from __future__ import annotations

import pytest

from adapters.rows import DATA_PARALLEL

from .cases import check_section_cell, section_params
from .parallel_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("run_id", section_params(DATA_PARALLEL))
def test_data_parallel_run_does_what_it_declares(run_id, row, record_section_cell):
    check_section_cell(DATA_PARALLEL, run_id, row, record_section_cell)
