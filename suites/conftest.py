"""Fixtures of the equivalence suites."""

from __future__ import annotations

import warnings
from dataclasses import asdict

import numpy as np
import pytest

from adapters.registry import IMPLEMENTATIONS, implementation_in

from .cases import compare, request_observations
from .divergences import KNOWN_DIVERGENCES
from .records import CELL, COMPARISON, SEED
from .scheduling import family_of


@pytest.fixture
def assert_close(request):
    """``assert_close(quantity, actual, expected, dtype)``: compare, record the numbers, fail if off.

    Every comparison is recorded on the test (``user_properties``), so the report can show the
    largest errors and the tolerance of passing tests too, including under pytest-xdist. For a
    trajectory ("... per step", steps x channels) the first channel's values travel too, for plots.
    """

    def check(quantity: str, actual, expected, dtype: str):
        result = compare(quantity, actual, expected, dtype)
        record = asdict(result)
        record["tolerance"] = asdict(result.tolerance)
        if "per step" in quantity and np.ndim(actual) == 2 and np.shape(actual) == np.shape(expected):
            record["steps"] = {"actual": np.asarray(actual, float)[:, 0].tolist(), "expected": np.asarray(expected, float)[:, 0].tolist()}
        request.node.user_properties.append((COMPARISON, record))
        assert result.passed, result.message
        return result

    return check


@pytest.fixture
def record_cell(request):
    """``record_cell(impl_id, row, observed, declared, evidence)``: one observation for the matrix.

    Recorded before the test asserts, so a mismatch still shows in the matrix with both values.
    """

    def record(impl_id: str, row: str, observed: str, declared: str, evidence: str) -> None:
        cell = {"impl": impl_id, "row": row, "observed": observed, "declared": declared, "evidence": evidence}
        request.node.user_properties.append((CELL, cell))

    return record


@pytest.fixture
def record_section_cell(request):
    """``record_section_cell(section, column_id, row, observed, declared, evidence)``: one observation
    for a further section of the matrix (``reports.matrix.SECTIONS``), recorded before the test asserts."""

    def record(section, column_id: str, row: str, observed: str, declared: str, evidence: str) -> None:
        cell = {"column": column_id, "row": row, "observed": observed, "declared": declared, "evidence": evidence}
        request.node.user_properties.append((section.record, cell))

    return record


@pytest.fixture
def record_seed(request):
    """``record_seed(impl_id, values, follows_tensorflow, epsilon, printed)``: what the founding question's
    network gave in one implementation, for the report's answer to the question."""

    def record(impl_id: str, values: dict, follows_tensorflow: bool, epsilon: float, printed: dict) -> None:
        seed = {"impl": impl_id, "values": values, "follows_tensorflow": follows_tensorflow, "epsilon": epsilon, "printed": printed}
        request.node.user_properties.append((SEED, seed))

    return record


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Turn each known divergence into a strict xfail; warn about entries no collected test matches;
    put the cases of worker-run implementations last.

    ``tryfirst`` sees every collected test before ``-k``/``-m`` deselect any, so an entry is stale
    only when its test was collected for its implementation and no parameters matched.
    """
    used = set()
    known = (*KNOWN_DIVERGENCES, *outside_divergences())
    for item in items:
        params = parameters(item)
        for divergence in known:
            if divergence.matches(item.originalname, params):
                item.add_marker(pytest.mark.xfail(reason=divergence.describe(), strict=True))
                used.add(divergence)
    # Cases of implementations that run in a worker process go last (in their family too: a family
    # runs whole on one process), so that the worker, started when its family's first case runs,
    # imports its framework while the family's other cases run, not while a case waits for it.
    in_worker = {impl_id for impl_id, impl in IMPLEMENTATIONS.items() if impl.worker}
    items.sort(key=lambda item: implementation_in(item.nodeid) in in_worker)
    unused = [d for d in known if d not in used]
    collected = {(item.originalname, parameters(item).get("impl_id")) for item in items}
    for divergence in stale_divergences(unused, collected):
        warnings.warn(f"stale known divergence, no test matches it: {divergence}", StaleDivergenceWarning, stacklevel=1)


def outside_divergences() -> list:
    """The known divergences implementations from outside bnparity declare on their adapters (imported here;
    bnparity's own are listed in suites/divergences.py, so that collecting imports no framework)."""
    found = []
    for impl in IMPLEMENTATIONS.values():
        if impl.shipped or impl.missing():
            continue
        found += [d for d in impl.load(here=True).known_divergences if d.impl == impl.id]
    return found


def parameters(item) -> dict:
    """A collected case's parameters by name (none for an unparametrized test)."""
    return getattr(getattr(item, "callspec", None), "params", {})


def stale_divergences(unused, collected: set[tuple[str, str | None]]) -> list:
    """The unused entries whose test was collected for their implementation (with other parameters):
    ``collected`` holds (test function, implementation) of every collected case.

    A run given node ids, or ``-k`` after this hook, collects only some cases: an entry whose
    implementation's case of that test was not collected is not stale, only not run.
    """
    return [d for d in unused if (d.test, d.impl) in collected]


class StaleDivergenceWarning(UserWarning):
    """A known-divergence entry that matches no collected test: delete or correct it."""


#: The selected cases of each scope (``scheduling.family_of``) whose workers and observations this process
#: has not started yet: grouped at the first case, a scope's taken out when its first case runs.
NOT_STARTED = pytest.StashKey[dict]()


def pytest_runtest_setup(item):
    """When the first case of a scope (a family, or the cases that name no implementation) runs in
    this process, start what its cases will wait on, without waiting for it: the worker processes its
    selected implementations run in (``adapters/worker.py``), and the observations of its selected
    section columns that run in worker processes (conversions, data-parallel runs, workflow columns
    of worker-run implementations). Imports and measurements then overlap the scope's other cases
    instead of adding to them. A scope runs whole on one process (``suites/scheduling.py``), so this
    starts what this process will use, and no other."""
    waiting = item.session.stash.get(NOT_STARTED, None)
    if waiting is None:
        waiting = item.session.stash[NOT_STARTED] = {}
        for case in item.session.items:
            waiting.setdefault(family_of(case.nodeid), []).append(case)
    in_scope = waiting.pop(family_of(item.nodeid), None)
    if in_scope is None:
        return
    selected = {implementation_in(other.nodeid) for other in in_scope}
    kinds = {impl.worker for impl in IMPLEMENTATIONS.values() if impl.id in selected and impl.worker and not impl.missing()}
    if kinds:
        from adapters.worker import Worker

        for kind in sorted(kinds):
            Worker.prestart(kind)
    request_observations(dict.fromkeys(column for other in in_scope if (column := section_column(other)) is not None))


def section_column(item) -> str | None:
    """The column id a case of a matrix section runs (its ``section`` marker names it), or None."""
    marker = item.get_closest_marker("section")
    return marker.args[0] if marker is not None else None
