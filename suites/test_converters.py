"""Converters: what each conversion path (``converters/``) keeps and loses of a trained BatchNorm,
read from the artifact it writes, one matrix cell per path and row, checked against what the path
declares. The conversions run in the ``converters`` worker process: source and target frameworks are
imported there, never in the test process (``suites/converter_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from adapters.rows import CONVERTERS

from .cases import check_section_cell, section_params
from .converter_checks import ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("path_id", section_params(CONVERTERS))
def test_conversion_does_what_the_path_declares(path_id, row, record_section_cell):
    check_section_cell(CONVERTERS, path_id, row, record_section_cell)
