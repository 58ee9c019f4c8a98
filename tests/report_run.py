"""Helpers for the tests of bnparity's outputs: run pytest in a fresh interpreter, read its HTML report back."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(out: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``pytest *args`` with bnparity's plugin, writing its outputs (report.html, the matrix) into ``out``."""
    command = [sys.executable, "-m", "pytest", "-p", "reports.plugin", "-p", "no:cacheprovider", "-q",
               f"--bnparity-out={out}", f"--basetemp={out / 'tmp'}", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def report_data(report: Path) -> dict:
    """The JSON that pytest-html's page renders its results table from."""
    match = re.search(r'data-jsonblob="([^"]*)"', report.read_text())
    assert match, f"{report} has no results data"
    return json.loads(html.unescape(match.group(1)))
