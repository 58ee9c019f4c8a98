"""A non-editable install is whole: the wheel ``pip install .`` builds holds every module an installed
bnparity imports, with the committed matrix its command reads, and each of them imports from the
install alone (not from this checkout)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_every_module_and_each_imports_from_the_install(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("bnparity-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "reports/conventions.json" in names and "reports/CONVENTIONS.md" in names
    modules = sorted(name[:-3].replace("/", ".").removesuffix(".__init__") for name in names if name.endswith(".py"))
    assert {"suites.cases", "reports.matrix", "converters.onnx_torch", "bnparity.cli"} <= set(modules)
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    # In a fresh interpreter outside the checkout, this environment's frameworks but not its editable bnparity:
    # Paddle's modules first (Paddle's import crashes an interpreter that imported TensorFlow: adapters/paddle/nn.py).
    code = (
        "import importlib, json, sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in type(f).__module__]\n"
        f"sys.path[:] = [{str(site)!r}] + [p for p in sys.path if p and p != {str(ROOT)!r}]\n"
        f"modules = sorted({modules!r}, key=lambda m: 'paddle' not in m)\n"
        "failed = {}\n"
        "for name in modules:\n"
        "    try:\n"
        "        module = importlib.import_module(name)\n"
        f"        assert module.__file__.startswith({str(site)!r}), module.__file__\n"
        "    except Exception as error:\n"
        "        failed[name] = f'{type(error).__name__}: {error}'\n"
        "print(json.dumps(failed))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}
