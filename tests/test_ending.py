"""How a pytest process of a run ends (``suites/ending.py``): the run of the pytest command and each
pytest-xdist worker end before the exit handlers registered after pytest's start (the frameworks'),
with the status Python would have exited with; a ``pytest.main()`` another program calls, a run
inside a run and ``BNPARITY_TEARDOWN=1`` leave the exit to Python.

Each case runs pytest in a fresh interpreter over a small tree whose test module registers an exit
handler, as a framework does when it is imported, that leaves a file behind when it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from suites.ending import TEARDOWN_VARIABLE

from .report_run import ROOT

TEST_MODULE = '''
import atexit, os
from pathlib import Path

atexit.register(lambda: Path(os.environ["MARKS"], f"{os.getpid()}").write_text("exit handlers ran"))

def test_passes():
    pass

def test_fails_when_asked():
    assert os.environ.get("FAIL") != "1"
'''

#: Garbage whose finalizer raises, left for the collections pytest forces when the run is over
#: (the collector is off, so nothing collects it before).
FAILING_FINALIZER = '''
import gc

gc.disable()

class FailsWhenFinalized:
    def __del__(self):
        raise RuntimeError("a finalizer failed")

def test_leaves_garbage():
    garbage = FailsWhenFinalized()
    garbage.itself = garbage
'''

INNER_RUN = '''
import pytest

def test_a_run_inside_the_run(tmp_path):
    (tmp_path / "test_inner.py").write_text("def test_inner_fails():\\n    assert False\\n")
    assert pytest.main([str(tmp_path), "-q", "-p", "no:cacheprovider", "-p", "suites.ending"]) == 1
'''


def tree(tmp_path: Path, *modules: str) -> Path:
    (tmp_path / "marks").mkdir()
    for number, module in enumerate(modules):
        (tmp_path / f"test_{number}.py").write_text(module)
    return tmp_path


def run(tmp_path: Path, *command: str, fail: bool = False, teardown: bool = False) -> tuple[int, str, list[str]]:
    """Run ``command`` in ``tmp_path``; its exit status, its output and the processes whose exit handlers ran."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MARKS": str(tmp_path / "marks"), "FAIL": "1" if fail else "0"}
    env.pop(TEARDOWN_VARIABLE, None)
    if teardown:
        env[TEARDOWN_VARIABLE] = "1"
    for mark in (tmp_path / "marks").iterdir():  # left by an earlier command of the same test
        mark.unlink()
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr, sorted(p.name for p in (tmp_path / "marks").iterdir())


PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "suites.ending", "-p", "no:xdist")


@pytest.mark.parametrize("fail", (False, True), ids=("passing", "failing"))
def test_the_pytest_command_ends_before_the_exit_handlers_with_its_status(tmp_path, fail):
    code, output, marks = run(tree(tmp_path, TEST_MODULE), *PYTEST, fail=fail)
    assert code == (1 if fail else 0), output
    assert marks == [], "the exit handlers registered after pytest started ran"
    console_script = Path(sys.executable).with_name("pytest")
    code, output, marks = run(tmp_path, str(console_script), *PYTEST[3:], fail=fail)
    assert code == (1 if fail else 0), output
    assert marks == [], "the pytest console script ran the exit handlers"


def test_teardown_variable_lets_python_end_the_run(tmp_path):
    code, output, marks = run(tree(tmp_path, TEST_MODULE), *PYTEST, fail=True, teardown=True)
    assert code == 1, output
    assert len(marks) == 1


def test_a_program_calling_pytest_main_goes_on_after_it(tmp_path):
    program = f"import pytest\ncode = pytest.main({list(PYTEST[3:])!r})\nprint('pytest.main returned', int(code))\n"
    code, output, marks = run(tree(tmp_path, TEST_MODULE), sys.executable, "-c", program, fail=True)
    assert code == 0 and "pytest.main returned 1" in output, output
    assert len(marks) == 1, "the program's exit handlers did not run"


def test_a_run_inside_the_run_leaves_the_status_to_the_outer_one(tmp_path):
    code, output, marks = run(tree(tmp_path, TEST_MODULE, INNER_RUN), *PYTEST)
    assert code == 0, output
    assert marks == []


def test_pytest_xdist_workers_end_before_the_exit_handlers(tmp_path):
    pytest.importorskip("xdist")
    code, output, marks = run(tree(tmp_path, TEST_MODULE), *PYTEST[:-2], "-n", "2", fail=True)
    assert code == 1, output
    assert "bringing up nodes" in output and marks == [], (output, marks)
    code, output, marks = run(tmp_path, *PYTEST[:-2], "-n", "2", fail=True, teardown=True)
    assert code == 1, output
    assert len(marks) == 2, "each worker's exit handlers run when told to"


def test_a_run_that_ends_without_teardown_skips_pytests_last_garbage_collections(tmp_path):
    code, output, _ = run(tree(tmp_path, FAILING_FINALIZER), *PYTEST)
    assert code == 0 and "a finalizer failed" not in output, output
    code, output, _ = run(tmp_path, *PYTEST, teardown=True)
    assert code == 0 and "PytestUnraisableExceptionWarning" in output and "a finalizer failed" in output, output


def test_ten_runs_that_end_early_leave_no_lock_and_no_more_temporary_folders_than_pytest_keeps(tmp_path):
    """pytest removes a run's ``.lock`` and the numbered folders beyond the last three at its session's end (an
    exit stack it closes in pytest_sessionfinish, before bnparity's early end), not at exit."""
    uses_tmp_path = "def test_writes(tmp_path):\n    (tmp_path / 'file').write_text('x')\n"
    tree(tmp_path, uses_tmp_path)
    temproot = tmp_path / "temproot"
    temproot.mkdir()
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(temproot)
    try:
        for _ in range(10):
            code, output, _ = run(tmp_path, *PYTEST)
            assert code == 0, output
    finally:
        del os.environ["PYTEST_DEBUG_TEMPROOT"]
    (user,) = temproot.iterdir()
    runs = sorted(p.name for p in user.iterdir() if p.name.startswith("pytest-") and p.name != "pytest-current")
    assert len(runs) == 3 and runs[-1] == "pytest-9", runs
    assert list(user.rglob(".lock")) == []


AUTOGRAPH_MODULE = '''
from tests.autograph import convert_with_autograph

def test_converts_a_function():
    assert convert_with_autograph(), "AutoGraph wrote no file: nothing would be checked"
'''


def test_a_run_that_ends_early_leaves_none_of_tensorflows_autograph_files_behind(tmp_path, monkeypatch):
    """AutoGraph writes each function it converts to the temporary folder and deletes it in an exit handler,
    which a run that ends early skips (``adapters/exiting.py`` removes them first)."""
    pytest.importorskip("tensorflow")
    tree(tmp_path, AUTOGRAPH_MODULE)
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    code, output, _ = run(tmp_path, *PYTEST)
    assert code == 0, output
    assert not list(temporary.glob("__autograph_generated_file*")), "AutoGraph's files were left behind"
