"""Converters: what each conversion path (``converters/``) keeps and loses of a trained BatchNorm,
read from the artifact it writes, one matrix cell per path and row, checked against what the path
declares. The conversions run in the ``converters`` worker process: source and target frameworks are
imported there, never in the test process (``suites/converter_checks.py`` says what is measured)."""

from __future__ import annotations

import pytest

from converters.registry import PATHS
from reports.matrix import CONVERTERS

from .converter_checks import ROW_IDS, observed


def path_params() -> list:
    return [pytest.param(path_id, id=path_id, marks=[getattr(pytest.mark, f) for f in path.frameworks])
            for path_id, path in PATHS.items()]


@pytest.mark.parametrize("row", ROW_IDS)
@pytest.mark.parametrize("path_id", path_params())
def test_conversion_does_what_the_path_declares(path_id, row, record_section_cell):
    path = PATHS[path_id]
    missing = path.missing()
    if missing:
        pytest.skip(f"{path_id} needs {', '.join(missing)}, not installed (pip install -e '.[converters]')")
    value, evidence = observed(path_id)[row]
    declared = path.load().declared.get(row, "undeclared")
    record_section_cell(CONVERTERS, path_id, row, value, declared, evidence)
    assert value == declared, f"{path_id} {row}: observed {value!r}, declared {declared!r} ({evidence})"
