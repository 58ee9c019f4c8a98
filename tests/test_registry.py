"""The registry: ids that name framework and implementation, markers, and honest skips."""

from __future__ import annotations

import pytest

from adapters.processes import ENVIRONMENTS, Environment
from adapters.registry import FRAMEWORKS, IMPLEMENTATIONS, Column, Implementation, implementation
from suites import cases

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_every_id_names_its_framework_first():
    for impl_id, impl in IMPLEMENTATIONS.items():
        assert impl.id == impl_id
        assert impl.framework in FRAMEWORKS
        assert impl_id.startswith(impl.framework + "-")
        # An id must not contain another framework's name, or -k would select it for that framework.
        assert not [f for f in FRAMEWORKS if f != impl.framework and f in impl_id]


def test_parametrization_carries_the_framework_marker():
    for param in cases.implementation_params():
        impl = implementation(param.values[0])
        assert [mark.name for mark in param.marks] == [impl.framework]
        assert param.id == impl.id


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(KeyError, match="torch-batchnorm1d"):
        implementation("torch-batchnorm9d")


def test_missing_framework_skips_with_its_reason(monkeypatch):
    ghost = Implementation("torch-ghost", "adapters.ghost:Ghost", ("ghost-dist",), ("no_such_framework_module",))
    monkeypatch.setitem(IMPLEMENTATIONS, ghost.id, ghost)
    assert ghost.missing() == ["no_such_framework_module"]
    assert ghost.versions() == {"ghost-dist": "not installed"}
    with pytest.raises(pytest.skip.Exception, match="torch-ghost needs no_such_framework_module, not installed"):
        cases.build(ghost.id, None)


def test_a_column_whose_environment_is_not_built_is_missing_its_packages_and_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setitem(ENVIRONMENTS, "ghost", Environment(str(tmp_path / ".venv-ghost"), "environments/ghost.txt"))
    column = Column("torch-to-ghost", "converters.ghost:Ghost", ("numpy",), ("torch",),
                    environment="ghost", environment_distributions=("ghost-converter",))
    assert column.missing() == [f"ghost-converter ({tmp_path / '.venv-ghost'})"]
    assert column.how_to_install("converters") == (f"pip install -e '.[converters]'; python3 -m venv {tmp_path / '.venv-ghost'} && "
                                                   f"{tmp_path / '.venv-ghost'}/bin/pip install -r environments/ghost.txt")


def test_an_installed_framework_that_cannot_run_here_is_skipped_with_its_reason(tmp_path):
    """tinygrad's CPU device compiles with clang: without it on the PATH (and with an empty kernel cache, so
    that no kernel compiled earlier lets it run anyway) its cases skip saying so, the run is green, and the
    matrix says "cannot run" rather than showing tinygrad's bare RuntimeError."""
    import os
    import subprocess
    import sys

    if IMPLEMENTATIONS["tinygrad-batchnorm"].missing():
        pytest.skip("tinygrad not installed: pip install -e '.[tinygrad]'")
    (tmp_path / "bin").mkdir()
    env = dict(os.environ, PATH=str(tmp_path / "bin"), CACHEDB=str(tmp_path / "tinygrad-cache.db"))
    done = subprocess.run([sys.executable, "-m", "pytest", "suites/test_conventions.py", "-k", "tinygrad", "-p", "no:xdist", "-q", "-rs",
                           "-p", "no:cacheprovider", "--bnparity-out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    reason = "tinygrad-batchnorm cannot run: tinygrad's CPU device needs clang (Debian: apt-get install clang)"
    assert reason in done.stdout and " passed" not in done.stdout.splitlines()[-1], done.stdout[-2000:]


def test_the_matrix_shows_an_implementation_that_cannot_run_here(monkeypatch):
    from adapters import registry
    from reports import matrix

    monkeypatch.setattr(registry.shutil, "which", lambda program: None)
    status = matrix.build([])["implementations"]["tinygrad-batchnorm"]["status"]
    assert status == "cannot run: tinygrad's CPU device needs clang (Debian: apt-get install clang)" or status.startswith("not installed")
