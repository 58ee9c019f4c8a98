"""The conventions matrix: every row's probe (``adapters/rows.py``) on every implementation, each
observation recorded for the matrix and compared with the adapter's declaration; a mismatch
fails with both values."""

from __future__ import annotations

import pytest

from adapters.rows import ROWS

from .cases import adapter_class, implementation_params


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
@pytest.mark.parametrize("impl_id", implementation_params())
def test_observed_convention_is_declared(impl_id, row, record_cell):
    adapter_type = adapter_class(impl_id)
    value, evidence = row.probe(adapter_type)
    observed, declared = row.show(value), row.declared(adapter_type.declared)
    record_cell(impl_id, row.id, observed, declared, evidence)
    assert observed == declared, f"{impl_id} {row.id}: observed {observed!r}, declared {declared!r} ({evidence})"
