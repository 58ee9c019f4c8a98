"""The pytest plugin that gathers observations from the suites and writes the conventions matrix.

Observations travel as ``user_properties`` on test reports, which pytest-xdist sends from every
worker to the controller; the controller alone writes, at the end of the session, so serial and
``-n N`` runs write the same matrix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import matrix

CELL = "bnparity_cell"
COMMITTED = Path(__file__).resolve().parent / "CONVENTIONS.md"


def pytest_addoption(parser):
    group = parser.getgroup("bnparity")
    group.addoption(
        "--bnparity-out",
        default="reports/out",
        help="folder for the run's outputs (conventions.json, CONVENTIONS.md); relative to the project root",
    )
    group.addoption(
        "--update-conventions",
        action="store_true",
        help="also write the committed reports/CONVENTIONS.md (needs every implementation observed)",
    )


def pytest_configure(config):
    config.pluginmanager.register(MatrixWriter(config), "bnparity-matrix")


def output_folder(config) -> Path:
    folder = Path(config.getoption("--bnparity-out"))
    return folder if folder.is_absolute() else config.rootpath / folder


class MatrixWriter:
    def __init__(self, config):
        self.config = config
        self.cells: list[dict] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.cells += [value for name, value in report.user_properties if name == CELL]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if hasattr(self.config, "workerinput") or not self.cells:
            return  # a worker, or a run that probed no convention: leave the last matrix as it is
        result = matrix.build(self.cells)
        out = output_folder(self.config)
        out.mkdir(parents=True, exist_ok=True)
        (out / "conventions.json").write_text(matrix.to_json(result))
        markdown = matrix.to_markdown(result)
        (out / "CONVENTIONS.md").write_text(markdown)
        if self.config.getoption("--update-conventions"):
            incomplete = [i for i, d in result["implementations"].items() if d["status"] != "run"]
            if incomplete:
                raise pytest.UsageError(f"--update-conventions needs every implementation; not run: {', '.join(incomplete)}")
            COMMITTED.write_text(markdown)
