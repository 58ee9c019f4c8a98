"""Benchmark: the suites' wall time and memory against floors that do nothing but the unavoidable.

    python bench/run.py [--repeat 3]

Each command runs in a fresh interpreter, ``--repeat`` times, cold (bnparity keeps no persistent
compilation cache, and tinygrad's own kernel cache is pointed at an empty file for each run, so
every run compiles what it runs), with the environment a run of the suites gives itself (one
thread per framework and XLA's flags, ``suites.scheduling.run_environment``); the median wall time
and the largest peak resident memory of any one process of the tree are reported. Targets (the
speed issue):

- the full equivalence suite (``pytest suites``, the README's command, which starts one worker per
  family on a machine with more than one core) <= 3.0x ``bench/floor.py``, which imports every
  framework under test and takes one BatchNorm step in each of its layers;
- ``pytest suites -k torch`` (PyTorch's implementations: ``TORCH_IMPLEMENTATIONS``) <= 1.5x
  ``python -c "import torch, pytest"`` in time and <= 1.3x in peak memory;
- ``pytest suites -k tensorflow`` and ``-k jax`` <= 2.0x ``bench/floor.py tensorflow`` and
  ``bench/floor.py jax``, the floors of their own families.

It also prints the seconds each implementation cost in the full suite, from the run's own test
durations (``durations.json``, setup + call + teardown of its cases, summed over workers), so the
cost of the next implementation is visible.

It writes what it measured to ``docs/benchmark.md`` (and ``reports/out/benchmark.json``), with the commit,
the machine and the versions. This is a script, never a test: timings depend on the machine, and a timed
test would be flaky.
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

from adapters.registry import IMPLEMENTATIONS  # noqa: E402  (imports no framework)
from adapters.rows import SECTIONS  # noqa: E402
from reports.matrix import environment  # noqa: E402
from suites.scheduling import run_environment  # noqa: E402
from suites.sections import columns  # noqa: E402  (imports no framework)

#: PyTorch's implementations alone, as `-k torch` selected before the matrix's sections (conversion paths, DDP
#: runs, the workflow columns) that use PyTorch carried its marker too: what the -k torch target was set against.
TORCH_IMPLEMENTATIONS = "torch and not section"

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
        with tempfile.TemporaryDirectory() as cold:
            # the compilers' caches kept between runs, fresh per run, so that every run is cold, as on a fresh
            # machine: tinygrad's kernels (~/.cache/tinygrad) and torch.compile's (inductor's FX graphs and
            # C++ kernels, /tmp/torchinductor_<user>: a warm one halves Keras's fit under torch.compile)
            # the settings a run of the suites gives itself (one thread per framework, XLA's flags), given
            # to the floors too, so that both are measured alike
            env = dict(os.environ, **run_environment(os.environ), CACHEDB=str(Path(cold) / "tinygrad-cache.db"),
                       TORCHINDUCTOR_CACHE_DIR=str(Path(cold) / "torchinductor"))
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=ROOT, capture_output=True, text=True, env=env)
            walls.append(time.perf_counter() - start)
        code, peak_kib = done.stdout.split()
        if int(code) != 0:
            raise SystemExit(f"{' '.join(command)} exited with {code}")
        peaks.append(int(peak_kib) / 1024)
    return {"wall_s": statistics.median(walls), "walls_s": walls, "peak_mib": max(peaks)}


def commit() -> str:
    """The commit measured, and whether the tree had changes on top of it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return f"{head or 'unknown'}{' with uncommitted changes' if dirty else ''}"


def benchmark_page(repeat: int, versions: dict, runs: dict, ratios: list, seconds: dict) -> str:
    """docs/benchmark.md: what this run measured, and nothing else (its history is the git log's)."""
    lines = ["# Benchmark", "",
             f"Written by `python bench/run.py --repeat {repeat}` on {time.strftime('%Y-%m-%d')}, commit {commit()}: "
             f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores. Each command in a fresh "
             "interpreter, cold; the median wall time of the repeats and the largest peak resident memory of any one process.",
             "", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
             "| command | median wall (s) | repeats (s) | peak memory (MiB) |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {run['wall_s']:.2f} | {', '.join(f'{w:.2f}' for w in run['walls_s'])} | {run['peak_mib']:.0f} |"
              for name, run in runs.items()]
    lines += ["", "| ratio | measured | target |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value:.2f}x | <= {target}x {'met' if value <= target else 'MISSED'} |" for name, value, target in ratios]
    lines += ["", "Seconds per implementation and per column of every section (conversion path, data-parallel run, freezing "
              "mechanism, precision policy, compiler path, folding path) in the full suite (its cases' setup, call and "
              "teardown, summed over the workers, last repeat):", "",
              "| implementation or column | runs as, or its section | seconds |", "| --- | --- | --- |"]
    section_of = {column_id: section.title for section in SECTIONS for column_id in columns(section)}
    for impl_id, value in seconds.items():
        execution = IMPLEMENTATIONS[impl_id].execution if impl_id in IMPLEMENTATIONS else section_of.get(impl_id, "")
        lines.append(f"| `{impl_id}` | {execution} | {value:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    floor = [python, str(ROOT / "bench" / "floor.py")]
    with tempfile.TemporaryDirectory() as scratch:
        # The suites write their reports into a scratch folder, so a benchmark leaves the tree as it was.
        def pytest(name: str, *selection: str) -> list[str]:
            return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={scratch}/{name}/tmp",
                    f"--bnparity-out={scratch}/{name}", "suites", *selection]

        runs = {
            "floor": measure(floor, args.repeat),
            "full suite": measure(pytest("full"), args.repeat),
            "import torch, pytest": measure([python, "-c", "import torch, pytest"], args.repeat),
            "pytest -k torch (implementations)": measure(pytest("torch", "-k", TORCH_IMPLEMENTATIONS), args.repeat),
            "floor tensorflow": measure([*floor, "tensorflow"], args.repeat),
            "pytest -k tensorflow": measure(pytest("tensorflow", "-k", "tensorflow"), args.repeat),
            "floor jax": measure([*floor, "jax"], args.repeat),
            "pytest -k jax": measure(pytest("jax", "-k", "jax"), args.repeat),
        }
        seconds = json.loads((Path(scratch) / "full" / "durations.json").read_text())

    def ratio(run: str, against: str, key: str = "wall_s") -> float:
        return runs[run][key] / runs[against][key]

    ratios = [
        ("full suite / floor, time", ratio("full suite", "floor"), 3.0),
        ("-k torch (implementations) / import torch, time", ratio("pytest -k torch (implementations)", "import torch, pytest"), 1.5),
        ("-k torch (implementations) / import torch, peak memory",
         ratio("pytest -k torch (implementations)", "import torch, pytest", "peak_mib"), 1.3),
        ("-k tensorflow / its floor, time", ratio("pytest -k tensorflow", "floor tensorflow"), 2.0),
        ("-k jax / its floor, time", ratio("pytest -k jax", "floor jax"), 2.0),
    ]
    versions = {**environment(), "pytest": importlib.metadata.version("pytest")}
    page = benchmark_page(args.repeat, versions, runs, ratios, seconds)
    print(page)
    (ROOT / "docs" / "benchmark.md").write_text(page)
    (ROOT / "reports" / "out").mkdir(parents=True, exist_ok=True)
    result = {"versions": versions, "runs": runs, "ratios": {n: {"ratio": r, "target": t} for n, r, t in ratios},
              "seconds_per_implementation": seconds}
    (ROOT / "reports" / "out" / "benchmark.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
