"""Frozen for fine-tuning: each framework's ways of freezing a BatchNorm (``workflows/frozen.py``),
one matrix cell per mechanism and row, checked against what the mechanism declares. Each runs where
its implementation runs (``suites/frozen_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from adapters.rows import FROZEN

from .cases import check_section_cell, section_params
from .frozen_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("column_id", section_params(FROZEN))
def test_frozen_layer_does_what_the_mechanism_declares(column_id, row, record_section_cell):
    check_section_cell(FROZEN, column_id, row, record_section_cell)
