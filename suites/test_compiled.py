"""Training with a compiler: each compiler path (``workflows/compiled.py``) against its eager twin and
the reference, one matrix cell per path and row, checked against what the path declares. Each runs
where its implementation runs (``suites/compiled_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from adapters.rows import COMPILED

from .cases import check_section_cell, section_params
from .compiled_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("column_id", section_params(COMPILED))
def test_compiled_path_does_what_it_declares(column_id, row, record_section_cell):
    check_section_cell(COMPILED, column_id, row, record_section_cell)
