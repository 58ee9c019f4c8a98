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

from adapters.registry import FRAMEWORKS, IMPLEMENTATIONS

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "tf_keras", "sonnet", "jax", "flax", "haiku", "equinox", "onnx",
                     "onnxruntime", "paddle", "mlx", "tinygrad")


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

    (TensorFlow, JAX and tinygrad take long to run; their selection is checked by collection below.)
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
        f"code = pytest.main(['suites', '-k', {family!r}, '-q', '-p', 'no:cacheprovider', '--basetemp', {str(tmp_path / 'inner')!r}, "
        f"'--bnparity-out', {str(tmp_path / 'out')!r}], plugins=[seen])\n"
        f"print(json.dumps({{'code': int(code), 'ids': seen.ids, 'outcomes': seen.outcomes, 'loaded': {loaded_frameworks_snippet()}}}))"
    )
    assert found["code"] == 0
    assert found["ids"], f"-k {family} selected nothing"
    assert all(f"[{family}-" in nodeid for nodeid in found["ids"]), [i for i in found["ids"] if f"[{family}-" not in i]
    assert found["outcomes"].get("passed", 0) > 100
    assert found["loaded"] == modules


@pytest.mark.parametrize("family", FRAMEWORKS)
def test_selecting_a_family_collects_exactly_its_implementations(family):
    """``pytest -k <family>`` collects every implementation of that family and nothing of another."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-k", family, "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    nodeids = [line for line in done.stdout.splitlines() if "::" in line]
    parameters = [nodeid.split("[", 1)[1] for nodeid in nodeids]
    assert parameters and all(p.startswith(f"{family}-") for p in parameters), [n for n in nodeids if f"[{family}-" not in n]
    family_ids = [i for i, impl in IMPLEMENTATIONS.items() if impl.framework == family]
    assert {i for i in family_ids if any(p.startswith(f"{i}-") or p == f"{i}]" for p in parameters)} == set(family_ids)


@pytest.mark.parametrize("word, test, narrowed", [
    ("convert", "test_conversion_does_what_the_path_declares", "onnx"),
    ("parallel", "test_data_parallel_run_does_what_it_declares", "jax"),
])
def test_a_sections_word_selects_its_cases_and_a_family_with_it_narrows_them(word, test, narrowed):
    """``-k convert`` (``-k parallel``) collects every conversion path's (data-parallel run's) cases and
    nothing else; with a family, ``-k "convert and onnx"``, those whose id names it (the family alone
    collects its implementations only: the tests above)."""
    def collected(expression):
        done = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-k", expression, "-p", "no:cacheprovider"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return [line for line in done.stdout.splitlines() if "::" in line]

    every = collected(word)
    assert every and all(f"::{test}[" in nodeid for nodeid in every), every[:5]
    narrowed_ids = collected(f"{word} and {narrowed}")
    assert narrowed_ids and all(narrowed in nodeid.split("[", 1)[1] for nodeid in narrowed_ids)


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
    assert found["frameworks"] == ["tensorflow", "keras", "tf_keras", "sonnet", "jax"]
