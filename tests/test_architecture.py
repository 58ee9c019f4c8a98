"""The architecture holds: imports run from higher layers to lower ones only, no module imports itself
through others, and what is declared once about an implementation or a family (adapters/registry.py)
agrees with what the package's metadata installs and what the benchmark's floor runs."""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from adapters.registry import FAMILIES, IMPLEMENTATIONS, Family, Implementation

ROOT = Path(__file__).resolve().parents[1]
#: The packages from the lowest layer up: a module may import from its own package and lower layers only.
#: adapters (the neutral description, conventions, rows, probes, the frameworks' adapters) < the
#: conversion paths, data-parallel runs and workflows (frozen, mixed precision, ...) < the suites < the reports < the command.
LAYERS = {"adapters": 0, "converters": 1, "parallel": 1, "workflows": 1, "suites": 2, "reports": 3, "bnparity": 4}


def project_imports() -> dict[str, set[str]]:
    """module -> the project modules it imports, anywhere in it (a function's import included)."""
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for package in LAYERS for path in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            found |= {target for target in targets if target in modules and target != name}
        graph[name] = found
    return graph


def test_imports_run_from_higher_layers_to_lower_ones():
    upward = [f"{module} -> {target}" for module, targets in project_imports().items() for target in targets
              if LAYERS[target.split(".")[0]] > LAYERS[module.split(".")[0]]
              or (LAYERS[target.split(".")[0]] == LAYERS[module.split(".")[0]] and target.split(".")[0] != module.split(".")[0])]
    assert upward == []


def test_no_module_imports_itself_through_others():
    graph, circles, state = project_imports(), [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def pinned_extras(pyproject: dict) -> dict[str, set[str]]:
    """extra -> the distributions it pins with ``==``, the extras it names included."""
    extras = pyproject["project"]["optional-dependencies"]

    def pins(extra, seen=()):
        found = set()
        for requirement in extras.get(extra, ()):
            named = re.fullmatch(r"bnparity\[(.+)\]", requirement)
            if named:
                found |= {pin for other in named.group(1).split(",") if other not in seen for pin in pins(other, (*seen, extra))}
            elif "==" in requirement:
                found.add(re.split(r"[\[=]", requirement, maxsplit=1)[0].lower())
        return found

    return {extra: pins(extra) for extra in extras}


def declaration_problems(families: dict[str, Family], implementations: dict[str, Implementation], pyproject: dict,
                         floor_families: tuple[str, ...]) -> list[str]:
    """What a newly added framework forgot: its family, its extra and its pins, its floor."""
    extras = pinned_extras(pyproject)
    problems = []
    for impl in implementations.values():
        if not impl.shipped:
            continue
        family = families.get(impl.framework)
        if family is None:
            problems.append(f"{impl.id}: no Family({impl.framework!r}, ...) in FAMILIES")
            continue
        if family.extra not in extras:
            problems.append(f"{impl.id}: its family's extra {family.extra!r} is not in pyproject.toml")
        else:
            unpinned = sorted(d.lower() for d in impl.distributions if d.lower() not in extras[family.extra])
            if unpinned:
                problems.append(f"{impl.id}: the extra {family.extra!r} pins none of {unpinned}")
        if not impl.floor:
            problems.append(f"{impl.id}: no floor snippet (bench/floor.py runs it)")
        if impl.framework not in floor_families:
            problems.append(f"{impl.id}: bench/floor.py has no floor for the family {impl.framework!r}")
    every = pyproject["project"]["optional-dependencies"]["all"][0]
    problems += [f"the extra 'all' leaves out {family.extra!r}" for family in families.values() if family.extra not in every]
    return problems


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def floor_families() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("bench_floor", ROOT / "bench" / "floor.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    return floor.FAMILIES


def test_every_implementation_has_its_family_extra_pins_and_floor(pyproject, floor_families):
    assert declaration_problems(FAMILIES, IMPLEMENTATIONS, pyproject, floor_families) == []


def test_a_framework_added_with_a_step_forgotten_fails(pyproject, floor_families):
    """The checklist of CONTRIBUTING.md: each forgotten step is named."""
    new = Implementation("mxnet-batchnorm", "adapters.mxnet.nn:MxnetBatchNorm", ("mxnet",), ("mxnet",))
    everything = {**IMPLEMENTATIONS, new.id: new}
    assert declaration_problems(FAMILIES, everything, pyproject, floor_families) == ["mxnet-batchnorm: no Family('mxnet', ...) in FAMILIES"]
    families = {**FAMILIES, "mxnet": Family("mxnet", "mxnet", 1.0)}
    assert declaration_problems(families, everything, pyproject, floor_families) == [
        "mxnet-batchnorm: its family's extra 'mxnet' is not in pyproject.toml",
        "mxnet-batchnorm: no floor snippet (bench/floor.py runs it)",
        "mxnet-batchnorm: bench/floor.py has no floor for the family 'mxnet'",
        "the extra 'all' leaves out 'mxnet'",
    ]
    extras = {**pyproject["project"]["optional-dependencies"], "mxnet": ["numpy==2.4.6"]}
    with_extra = {**pyproject, "project": {**pyproject["project"], "optional-dependencies": extras}}
    assert "mxnet-batchnorm: the extra 'mxnet' pins none of ['mxnet']" in declaration_problems(families, everything, with_extra, floor_families)
