"""Folding for inference: each folding path (``workflows/folding.py``) against the unfolded model in
each dtype it offers, one matrix cell per path and row, checked against what the path declares. Each runs
where its implementation runs (``suites/folding_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from adapters.rows import FOLDING

from .cases import check_section_cell, section_params
from .folding_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("column_id", section_params(FOLDING))
def test_folding_path_does_what_it_declares(column_id, row, record_section_cell):
    check_section_cell(FOLDING, column_id, row, record_section_cell)
