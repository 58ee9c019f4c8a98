"""The committed matrix: ``reports/CONVENTIONS.md`` for people, ``reports/conventions.json`` beside it
for programs (``bnparity``), both written by ``--update-conventions`` from one run."""

from __future__ import annotations

import json
from pathlib import Path

COMMITTED = Path(__file__).resolve().parent / "CONVENTIONS.md"
COMMITTED_JSON = COMMITTED.with_name("conventions.json")


def committed() -> dict:
    """The committed matrix as its JSON document."""
    return json.loads(COMMITTED_JSON.read_text())


def committed_cells(matrix: dict | None = None) -> dict[str, dict[str, str]]:
    """implementation -> row -> observed value, of the committed matrix."""
    matrix = committed() if matrix is None else matrix
    return {impl: {row: cell["observed"] for row, cell in data["cells"].items()}
            for impl, data in matrix["implementations"].items()}
