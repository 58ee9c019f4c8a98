"""Benchmark: the suite's wall time and memory against floors that do nothing but the unavoidable.

    python bench/run.py [--repeat 3]

Each command runs in a fresh interpreter, ``--repeat`` times; the median wall time and the
largest peak resident memory are reported. Targets (from the foundation issue):

- the full equivalence suite (``pytest suites``) <= 2.0x ``bench/floor.py``, which imports every
  framework under test (TensorFlow with Keras 3 and tf_keras, TensorFlow 1 in its own process,
  PyTorch, JAX with Flax, Haiku and Equinox, ONNX Runtime) and takes one BatchNorm step in each;
- ``pytest suites -k torch`` <= 1.5x ``python -c "import torch, pytest"`` in time and <= 1.3x
  in peak memory.

This is a script, never a test: timings depend on the machine, and a timed test would be flaky.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reports.matrix import environment  # noqa: E402  (imports no framework)

# A wrapper that runs one command and prints the peak RSS (KiB) of its process tree: with a
# single child, RUSAGE_CHILDREN's ru_maxrss is that child's (or its largest descendant's) peak.
MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure(command: list[str], repeat: int) -> dict:
    walls, peaks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        code, peak_kib = done.stdout.split()
        if int(code) != 0:
            raise SystemExit(f"{' '.join(command)} exited with {code}")
        peaks.append(int(peak_kib) / 1024)
    return {"wall_s": statistics.median(walls), "walls_s": walls, "peak_mib": max(peaks)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        # The suites write their reports into a scratch folder, so a benchmark leaves the tree as it was.
        pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={scratch}/tmp",
                  f"--bnparity-out={scratch}/out"]
        runs = {
            "floor": measure([python, str(ROOT / "bench" / "floor.py")], args.repeat),
            "full suite": measure([*pytest, "suites"], args.repeat),
            "import torch, pytest": measure([python, "-c", "import torch, pytest"], args.repeat),
            "pytest -k torch": measure([*pytest, "suites", "-k", "torch"], args.repeat),
        }
    ratios = [
        ("full suite / floor, time", runs["full suite"]["wall_s"] / runs["floor"]["wall_s"], 2.0),
        ("-k torch / import torch, time", runs["pytest -k torch"]["wall_s"] / runs["import torch, pytest"]["wall_s"], 1.5),
        ("-k torch / import torch, peak memory", runs["pytest -k torch"]["peak_mib"] / runs["import torch, pytest"]["peak_mib"], 1.3),
    ]
    versions = {**environment(), "pytest": importlib.metadata.version("pytest")}
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"{'command':<24}{'median wall (s)':>16}{'peak memory (MiB)':>20}")
    for name, run in runs.items():
        print(f"{name:<24}{run['wall_s']:>16.2f}{run['peak_mib']:>20.0f}")
    print()
    for name, ratio, target in ratios:
        print(f"{name:<38} {ratio:5.2f}x  target <= {target}x  {'met' if ratio <= target else 'MISSED'}")
    (ROOT / "reports" / "out").mkdir(parents=True, exist_ok=True)
    result = {"versions": versions, "runs": runs, "ratios": {n: {"ratio": r, "target": t} for n, r, t in ratios}}
    (ROOT / "reports" / "out" / "benchmark.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
