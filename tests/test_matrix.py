"""The conventions matrix: rendered from observations only, stable across serial and parallel runs,
and the committed reports/CONVENTIONS.md kept true to the installed frameworks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import matrix
from reports.plugin import COMMITTED
from suites.divergences import KNOWN_DIVERGENCES
from suites.sections import matrix_suites, regenerate_command

from .report_run import run_pytest

REGENERATE = regenerate_command()


def probe_run(out: Path, *extra: str) -> dict:
    """Run the convention probes and the conversion paths in a fresh interpreter, writing the matrix into ``out``."""
    done = run_pytest(out, *matrix_suites(), *extra)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads((out / "conventions.json").read_text())


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, probe_run(out, "-p", "no:xdist")


def test_committed_matrix_matches_the_installed_frameworks(serial):
    out, result = serial
    fresh = matrix.to_markdown(matrix.shipped(result))  # implementations registered from outside are not committed
    assert fresh == COMMITTED.read_text(), (
        f"reports/CONVENTIONS.md no longer matches what the installed frameworks do; regenerate it with `{REGENERATE}` "
        f"and review the diff (fresh copy: {out / 'CONVENTIONS.md'})"
    )


def test_every_row_observed_for_every_installed_implementation(serial):
    _, result = serial
    for impl_id, data in result["implementations"].items():
        if data["status"].startswith("not installed"):
            continue
        assert data["status"] == "run", impl_id
        assert tuple(data["cells"]) == matrix.ROW_IDS, impl_id
        for row, cell in data["cells"].items():
            assert cell["observed"] == cell["declared"], (impl_id, row, cell)


@pytest.mark.parametrize("section", matrix.SECTIONS, ids=lambda section: section.key)
def test_every_row_of_each_section_observed_for_every_installed_column(serial, section):
    _, result = serial
    for column_id, data in result[section.key].items():
        if data["status"].startswith("not installed"):
            continue
        assert data["status"] == "run", column_id
        assert tuple(data["cells"]) == tuple(row.id for row in section.rows), column_id
        for row, cell in data["cells"].items():
            # a cell a known divergence covers is a strict xfail: observed and declared differ by design
            if any(divergence.impl == column_id and divergence.convention == row for divergence in KNOWN_DIVERGENCES):
                assert cell["observed"] != cell["declared"], (column_id, row, "a known divergence no longer diverges")
                continue
            assert cell["observed"] == cell["declared"], (column_id, row, cell)


def test_json_and_markdown_agree(serial):
    out, result = serial
    markdown = (out / "CONVENTIONS.md").read_text()
    assert markdown == matrix.to_markdown(result)
    for impl_id, data in result["implementations"].items():
        for cell in data["cells"].values():
            assert f"| `{impl_id}` | {matrix._md(cell['observed'])} | {matrix._md(cell['evidence'])} |" in markdown


def test_parallel_run_gives_the_same_matrix(serial, tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    _, result = serial
    assert probe_run(tmp_path, "-n", "2") == result


def test_selected_run_marks_the_others_not_run(tmp_path):
    result = probe_run(tmp_path, "-k", "torch")
    statuses = {i: d["status"] for i, d in result["implementations"].items()}
    torch_ids = [i for i in statuses if i.startswith("torch-")]
    assert torch_ids and all(statuses.pop(i) == "run" for i in torch_ids)
    assert set(statuses.values()) <= {"not run"} | {s for s in statuses.values() if s.startswith("not installed")}
    assert all(not d["cells"] for i, d in result["implementations"].items() if i not in torch_ids)
    assert "| `tensorflow-keras3` | not run | |" in (tmp_path / "CONVENTIONS.md").read_text()


def test_a_mismatch_is_shown_with_both_values():
    cells = [{"impl": "jax-own", "row": "first_step", "observed": "copy", "declared": "blend", "evidence": "e <b>|"}]
    result = matrix.build(cells)
    assert result["implementations"]["jax-own"]["cells"] == {"first_step": {"observed": "copy", "declared": "blend", "evidence": "e <b>|"}}
    assert result["implementations"]["tensorflow-keras3"]["status"] in ("not run", "not installed (tensorflow, keras)")
    markdown = matrix.to_markdown(result)
    assert "| `jax-own` | copy (**declared: blend**) | e <b>\\| |" in markdown


def test_the_committed_matrix_names_no_path_of_the_machine_that_wrote_it():
    """Evidence quotes errors, and errors quote files: a file is named by its path in its package
    (``onnx/__init__.py``), never where it was installed, or a fresh clone's run cannot reproduce
    the committed matrix."""
    import re

    found = re.findall(r"[^\s(|]*(?:site-packages|/home/|/root/|/tmp/|/work/)[^\s)|]*", COMMITTED.read_text())
    assert not found, f"machine paths in {COMMITTED.name}: {sorted(set(found))[:5]}"


def test_the_markdown_opens_with_a_grid_per_section_whose_cells_are_short_and_mark_the_uncommon_values():
    result = {"environment": {}, "implementations": {
        i: {"framework": i.split("-")[0], "version": "", "execution": "eager", "status": "run",
            "cells": {"first_step": {"observed": value, "declared": value, "evidence": ""},
                      "inference_formula": {"observed": "moving statistics, epsilon inside the square root",
                                            "declared": "", "evidence": ""}}}
        for i, value in (("a-one", "blend"), ("b-two", "blend"), ("c-three", "copy"))}}
    markdown = matrix.to_markdown(result)
    glance = markdown.index("## At a glance")
    assert glance < markdown.index("## Implementations") < markdown.index("## What the first step stores (`first_step`)")
    lines = markdown[glance:].splitlines()
    assert any(line.startswith("| `a-one` |") and "| blend |" in line and "| A |" in line for line in lines)
    assert any(line.startswith("| `c-three` |") and "| **copy** |" in line for line in lines)  # not the most common: bold
    assert "- `inference_formula`: **A** moving statistics, epsilon inside the square root" in lines
    assert "[first step](#what-the-first-step-stores-first_step)" in markdown  # a column links to its row's section
