"""Your own BatchNorm in the suites without editing bnparity: registered by an entry point
(``bnparity.implementations``) or for one run by ``--bnparity-impl module:Class``.

The example package ``examples/numpy_batchnorm`` is the implementation under test here; CI
installs it, so its entry point makes it a column of every full run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from adapters.registry import IMPLEMENTATIONS, Implementation, external, register

from .report_run import ROOT

EXAMPLE = ROOT / "examples" / "numpy_batchnorm"


def test_an_implementation_id_names_its_family():
    for bad in ("Mine-numpy", "mine", "mine numpy-x", "-numpy"):
        with pytest.raises(ValueError, match="must be '<family>-<name>'"):
            external(bad, "numpy_batchnorm.adapter:NumpyBatchNorm")
    assert Implementation("mine-numpy", "m:C", (), ("m",)).framework == "mine"  # the family is the id's first word
    with pytest.raises(ValueError, match="must be 'module:Class'"):
        external("mine-numpy", "numpy_batchnorm.adapter")


def test_a_taken_id_is_refused_naming_both_adapters():
    with pytest.raises(ValueError, match=r"'torch-batchnorm1d' is taken \(by adapters.torch.nn:TorchBatchNorm\)"):
        register(external("torch-batchnorm1d", "mypackage.bn:MyBatchNorm"))


def test_the_example_is_registered_by_its_entry_point():
    if importlib.util.find_spec("numpy_batchnorm") is None:
        pytest.skip("the example is not installed: pip install -e examples/numpy_batchnorm (CI installs it)")
    impl = IMPLEMENTATIONS["mine-numpy_batchnorm"]
    assert (impl.framework, impl.adapter, impl.shipped) == ("mine", "numpy_batchnorm.adapter:NumpyBatchNorm", False)
    assert impl.versions() == {"bnparity-numpy-batchnorm": "0.1.0"}


def run_suites(tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(EXAMPLE), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}",
         f"--bnparity-out={tmp_path / 'out'}", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, check=False,
    )


def test_bnparity_impl_runs_an_adapter_in_every_suite_and_the_matrix(tmp_path):
    (tmp_path / "yours.py").write_text(textwrap.dedent('''
        from numpy_batchnorm.adapter import NumpyBatchNorm

        class YourBatchNorm(NumpyBatchNorm):
            id = "yours-numpy"
    '''))
    done = run_suites(tmp_path, "-k", "yours", "--bnparity-impl", "yours:YourBatchNorm")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "deselected" in done.stdout
    result = json.loads((tmp_path / "out" / "conventions.json").read_text())
    column = result["implementations"]["yours-numpy"]
    assert column["status"] == "run" and column["cells"]["moving_variance_update"]["observed"] == "biased"
    assert all(d["status"] == "not run" or d["status"].startswith("not installed")
               for i, d in result["implementations"].items() if i != "yours-numpy")


def test_a_bad_bnparity_impl_is_a_usage_error_naming_it(tmp_path):
    done = run_suites(tmp_path, "--collect-only", "--bnparity-impl", "no_such_module_bnparity:Thing")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--bnparity-impl 'no_such_module_bnparity:Thing': cannot load it (ModuleNotFoundError" in done.stderr


def test_a_broken_adapter_fails_naming_itself_and_the_verb_and_the_run_goes_on(tmp_path):
    (tmp_path / "broken.py").write_text(textwrap.dedent('''
        import numpy as np
        from numpy_batchnorm.adapter import NumpyBatchNorm

        class WrongShape(NumpyBatchNorm):
            id = "broken-shape"
            def _train(self, batch):
                return super()._train(batch)[:1]

        class WrongDtype(NumpyBatchNorm):
            id = "broken-dtype"
            def _infer(self, batch):
                return np.zeros(batch.shape, dtype=np.int64)

        class WrongState(NumpyBatchNorm):
            id = "broken-state"
            def _read(self):
                return super()._read()[:3]
    '''))
    impls = [f"--bnparity-impl=broken:{name}" for name in ("WrongShape", "WrongDtype", "WrongState")]
    done = run_suites(tmp_path, "-k", "broken", "-p", "no:xdist", *impls)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "AdapterError: broken-shape: _train returned shape (1, " in done.stdout
    assert "AdapterError: broken-dtype: _infer returned ndarray of dtype int64, not floating-point numbers" in done.stdout
    assert "AdapterError: broken-state: _read returned tuple, not four values" in done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    assert " failed" in summary and " passed" in summary, summary  # the run went on past the first failure


def test_measure_finds_the_conventions_the_example_follows(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from numpy_batchnorm.adapter import NumpyBatchNorm

    from adapters.rows import cells
    from suites.measure import measure

    conventions, observations = measure("numpy_batchnorm.adapter:NumpyBatchNorm")
    assert cells(conventions) == cells(NumpyBatchNorm.declared)  # its declaration, which the suites verify
    assert set(observations) == set(cells(NumpyBatchNorm.declared))
    assert "measured-adapter" not in IMPLEMENTATIONS


def test_the_measure_command_prints_a_declaration_and_the_closest_implementations(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXAMPLE), str(ROOT)]))
    done = subprocess.run([sys.executable, "-m", "bnparity.cli", "measure", "numpy_batchnorm.adapter:NumpyBatchNorm"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "declared = Conventions(\n    momentum_weight='new',  # momentum=" in done.stdout
    assert "    moving_variance_update='biased',  # decay 0, batch [2, 6] (biased variance 4): stored 4" in done.stdout
    closest = done.stdout.split("Closest implementations")[1].splitlines()[1]
    # the example keeps PyTorch's vocabulary but a biased update and no half precision: the nearest are PyTorch-like
    assert closest.startswith("  mlx-batchnorm: differs in 4 of") or closest.startswith("  tinygrad-batchnorm: differs in 4 of"), closest
