"""The conventions matrix: every probe (``suites/probes.py``) on every implementation, each
observation recorded for the matrix and compared with the adapter's declaration; a mismatch
fails with both values."""

from __future__ import annotations

import pytest

from reports.matrix import ROW_IDS

from .cases import adapter_class, implementation_params
from .probes import PROBES


def test_every_row_has_a_probe():
    assert tuple(PROBES) == ROW_IDS


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("impl_id", implementation_params())
def test_observed_convention_is_declared(impl_id, row, record_cell):
    observed, evidence = PROBES[row](impl_id)
    declared = adapter_class(impl_id).declared.cells()[row]
    record_cell(impl_id, row, observed, declared, evidence)
    assert observed == declared, f"{impl_id} {row}: observed {observed!r}, declared {declared!r} ({evidence})"
