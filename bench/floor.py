"""The floors the suites are measured against: import a family's frameworks, one BatchNorm step in each layer.

    python bench/floor.py                  # every family (the full suite's floor)
    python bench/floor.py tensorflow jax   # only these families

What runs is declared where each implementation is: ``Implementation.floor`` (``adapters/registry.py``)
for every implementation of a family, and ``WorkerKind.floor`` (``adapters/processes.py``) for the worker
kinds of the matrix's further sections (``converters``: the conversion paths; ``parallel``: the
data-parallel runs), and each workflow column's ``floor`` (``workflows/``: one step of its mechanism,
where its implementation runs) for ``frozen``, ``mixed_precision``, ``compiled`` and ``folding``.
bnparity's declarations are read, never run: the floors import nothing of the frameworks but what each
snippet does. The implementations of a worker kind run together in an
interpreter of their own with the kind's environment, as the suites' worker does (TensorFlow 1's graph
mode, Keras 3 on another backend, Paddle, whose import crashes an interpreter that imported TensorFlow),
started first so that they overlap with the rest, as the suite's worker processes may; the others run
in this interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.processes import ENVIRONMENTS, WORKERS  # noqa: E402
from adapters.registry import FRAMEWORKS, IMPLEMENTATIONS  # noqa: E402
from converters.registry import PATHS  # noqa: E402
from parallel.registry import RUNS  # noqa: E402
from workflows import registry as workflows  # noqa: E402

#: What every snippet starts from.
PRELUDE = "import numpy as np\nx = np.random.default_rng(0).normal(size=(8, 4)).astype('float32')\n"
#: The further sections' floors by name, each the worker kinds its columns run in.
SECTIONS = {
    "converters": {path.worker for path in PATHS.values()} | {path.environment for path in PATHS.values() if path.environment},
    "parallel": {run.worker for run in RUNS.values()},
}
#: The workflow sections' floors by name: each column's mechanism class declares one step of it
#: (``floor``), run where its implementation runs (this interpreter, or its worker kind's).
WORKFLOWS = {"frozen": workflows.FROZEN, "mixed_precision": workflows.MIXED_PRECISION, "compiled": workflows.COMPILED,
             "folding": workflows.FOLDING}
FAMILIES = (*(f for f in FRAMEWORKS if any(i.shipped and i.framework == f for i in IMPLEMENTATIONS.values())), *SECTIONS, *WORKFLOWS)


def plan(families) -> tuple[str, dict[str, str]]:
    """The code this interpreter runs, and worker kind -> the code its interpreter runs."""
    here, kinds = [], {}
    for family in families:
        if family in SECTIONS:
            for kind in sorted(SECTIONS[family]):
                kinds[kind] = kinds.get(kind, "") + WORKERS[kind].floor
            continue
        if family in WORKFLOWS:
            for column in WORKFLOWS[family].values():
                snippet = column.load().floor
                if column.worker is None:
                    here.append(snippet)
                else:
                    kinds[column.worker] = kinds.get(column.worker, "") + snippet
            continue
        for impl in IMPLEMENTATIONS.values():
            if impl.shipped and impl.framework == family:
                if impl.worker is None:
                    here.append(impl.floor)
                else:
                    kinds[impl.worker] = kinds.get(impl.worker, "") + impl.floor
    return "".join(here), kinds


def start(kind: str, code: str) -> subprocess.Popen | None:
    """``code`` run now by an interpreter with the environment of worker ``kind``; None where the kind's
    environment of its own is not built (the suite skips what needs it too)."""
    python = sys.executable
    environment = WORKERS[kind].environment
    if environment is not None:
        python = ENVIRONMENTS[environment].python
        if not os.access(python, os.X_OK):
            print(f"floor: {python} is not built, left out", file=sys.stderr)
            return None
    env = dict(os.environ, **WORKERS[kind].env)
    if "XLA_FLAGS" in WORKERS[kind].env:  # added to the run's flags, as the worker does
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {WORKERS[kind].env['XLA_FLAGS']}".strip()
    return subprocess.Popen([python, "-c", PRELUDE + code], env=env, stderr=subprocess.DEVNULL)


def main(families: list[str]) -> int:
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise SystemExit(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    here, kinds = plan(families)
    own = [process for process in (start(kind, code) for kind, code in kinds.items()) if process is not None]
    exec(PRELUDE + here, {"__name__": "__floor__"})  # noqa: S102 (bnparity's own declared snippets)
    return max([process.wait() for process in own], default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(FAMILIES)))
