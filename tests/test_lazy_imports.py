"""A framework is imported only when a test that needs it runs.

Each check runs in a fresh interpreter, because this process may already hold a framework
imported by another test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.registry import IMPLEMENTATIONS

ROOT = Path(__file__).resolve().parents[1]
#: Every framework module bnparity's implementations import (their registry entries' ``modules``).
FRAMEWORK_MODULES = tuple(dict.fromkeys(m for impl in IMPLEMENTATIONS.values() if impl.shipped for m in impl.modules))


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter at the project root; it prints one JSON object last."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded_frameworks_snippet() -> str:
    return f"[m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]"


def test_project_modules_import_no_framework():
    found = run_python(
        "import sys, json, adapters, adapters.registry, adapters.reference, adapters.spec, adapters.base, suites.cases, conftest\n"
        f"print(json.dumps({loaded_frameworks_snippet()}))"
    )
    assert found == []


def test_bad_description_and_batch_fail_before_any_framework_is_imported():
    found = run_python(
        "import sys, json, numpy as np\n"
        "from adapters.spec import BatchNormSpec, SpecError\n"
        "from adapters.registry import IMPLEMENTATIONS\n"
        "errors = []\n"
        "try: BatchNormSpec(4, decay=2.0)\n"
        "except SpecError as e: errors.append(e.field)\n"
        "try: BatchNormSpec(4).check_batch(np.zeros((3, 5)))\n"
        "except SpecError as e: errors.append(e.field)\n"
        f"print(json.dumps({{'errors': errors, 'loaded': {loaded_frameworks_snippet()}}}))"
    )
    assert found == {"errors": ["decay", "batch.shape[1]"], "loaded": []}


@pytest.mark.parametrize(
    "family, modules",
    # torch: Keras 3 on PyTorch (torch-keras3) runs in its worker, so the test process imports torch alone;
    # paddle: Paddle runs in its worker, so the test process imports no framework at all
    [("torch", ["torch"]), ("onnx", ["onnx", "onnxruntime"]), ("paddle", []), ("mlx", ["mlx"])],
    ids=["torch", "onnx", "paddle", "mlx"],
)
def test_selecting_a_family_runs_only_its_cases_and_imports_no_other_framework(family, modules, tmp_path):
    """``pytest -k <family>`` over the suites, in a fresh interpreter: what ran, and what it imported.

    Its implementations' cases: the sections' cases run in workers of their own, and a porting case (which
    carries its target's marker) builds its PyTorch source here (what ``-k`` selects: tests/test_selection.py). TensorFlow, JAX and tinygrad take long to run.
    """
    missing = [m for m in modules if __import__("importlib").util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[{family}]'")
    found = run_python(
        "import sys, json, pytest\n"
        "class Seen:\n"
        "    def __init__(self): self.ids, self.outcomes = [], {}\n"
        "    def pytest_collection_finish(self, session): self.ids = [i.nodeid for i in session.items]\n"
        "    def pytest_runtest_logreport(self, report):\n"
        "        if report.when == 'call' or report.outcome != 'passed': self.outcomes[report.outcome] = self.outcomes.get(report.outcome, 0) + 1\n"
        "seen = Seen()\n"
        f"code = pytest.main(['suites', '-k', {family + ' and not test_converters and not test_data_parallel and not test_porting'!r}, "
        "'-q', '-p', 'no:cacheprovider', "
        f"'--basetemp', {str(tmp_path / 'inner')!r}, "
        f"'--bnparity-out', {str(tmp_path / 'out')!r}], plugins=[seen])\n"
        f"print(json.dumps({{'code': int(code), 'ids': seen.ids, 'outcomes': seen.outcomes, 'loaded': {loaded_frameworks_snippet()}}}))"
    )
    assert found["code"] == 0
    assert found["ids"], f"-k {family} selected nothing"
    assert all(f"[{family}-" in nodeid for nodeid in found["ids"]), [i for i in found["ids"] if f"[{family}-" not in i]
    assert found["outcomes"].get("passed", 0) > 100
    assert found["loaded"] == modules


def test_a_hidden_module_cannot_be_imported_within_the_block_and_imports_after_it():
    from adapters.imports import hidden

    assert "tabnanny" not in sys.modules
    with hidden("tabnanny", "json"):  # json is imported already: left alone
        with pytest.raises(ImportError):
            import tabnanny  # noqa: F401
        import json as still_there  # noqa: F401
    import tabnanny  # noqa: F401,F811

    assert sys.modules["tabnanny"] is not None


def test_tensorflow_and_keras_import_neither_jax_nor_what_keras_never_uses():
    """TensorFlow imports JAX and Keras 3 imports matplotlib, h5py and PIL wherever they are installed
    (adapters/imports.py): a TensorFlow case imports none of them, and JAX still imports after it."""
    for module in ("tensorflow", "keras", "jax"):
        if __import__("importlib").util.find_spec(module) is None:
            pytest.skip(f"{module} not installed: pip install -e '.[all]'")
    found = run_python(
        "import sys, json, numpy as np\n"
        "from adapters.registry import implementation\n"
        "from adapters.spec import BatchNormSpec\n"
        "for impl_id in ('tensorflow-keras3', 'tensorflow-tf_keras', 'tensorflow-sonnet'):\n"
        "    implementation(impl_id).create(BatchNormSpec(4)).train_step(np.ones((2, 4)))\n"
        "unused = ['jax', 'matplotlib', 'h5py', 'PIL']\n"
        "loaded = [m for m in unused if m in sys.modules]\n"
        "import jax\n"
        f"print(json.dumps({{'loaded': loaded, 'frameworks': {loaded_frameworks_snippet()}}}))"
    )
    assert found["loaded"] == []
    assert sorted(found["frameworks"]) == ["jax", "keras", "sonnet", "tensorflow", "tf_keras"]
