"""Mixed precision: each framework's policies (``workflows/mixed_precision.py``) around a float32
BatchNorm, one matrix cell per policy and row, checked against what the policy declares. Each runs
where its implementation runs (``suites/mixed_precision_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from adapters.rows import MIXED_PRECISION

from .cases import check_section_cell, section_params
from .mixed_precision_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("column_id", section_params(MIXED_PRECISION))
def test_policy_does_what_it_declares(column_id, row, record_section_cell):
    check_section_cell(MIXED_PRECISION, column_id, row, record_section_cell)
