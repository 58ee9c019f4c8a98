"""A user's own repository: a project with its BatchNorm and its adapter (the ledger_norm example, copied
outside the checkout) installs bnparity from a wheel, not editable, into an environment of its own, registers
its adapter by entry point, and runs bnparity's suites on it from its own directory with ``bnparity test``,
getting the report and its column of the matrix. No framework is installed there: theirs is NumPy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command: list, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_project_of_its_own_runs_bnparitys_suites_on_its_adapter_from_its_directory(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", ROOT], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("bnparity-*.whl")
    project = tmp_path / "my-project"
    shutil.copytree(ROOT / "examples" / "ledger_norm", project, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    run([sys.executable, "-m", "venv", tmp_path / "venv"], tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", wheel, project], project)
    done = run([tmp_path / "venv" / "bin" / "bnparity", "test", "-k", "ledger", "-p", "no:xdist", "-q"], project)
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    report, matrix = project / "reports" / "out" / "report.html", project / "reports" / "out" / "CONVENTIONS.md"
    assert report.exists() and "ledger-ledger_norm" in report.read_text()
    assert "| `ledger-ledger_norm` | ledger | bnparity-ledger-norm 0.1.0 | eager | run |" in matrix.read_text()
    assert "| `torch-batchnorm1d` | torch | torch not installed | eager | not installed (torch) |" in matrix.read_text()
