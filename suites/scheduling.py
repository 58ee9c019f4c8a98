"""One worker per framework family: how a run is spread over processes.

Importing a framework costs seconds and hundreds of MiB, and a framework's compiled steps are
cached in its process, so a worker that ran TensorFlow and JAX and PyTorch alike would pay every
import and every compile once per worker. Instead:

- ``pytest`` (and the README's commands) start pytest-xdist workers by themselves when more than
  one core is available and the selection reaches more than one family: as many workers as
  families, at most one per core. A selection of one family (``-k torch``) runs in the test
  process and starts no worker. ``-n N`` chooses for itself; ``-p no:xdist`` or ``-n 0`` runs
  serially.
- ``FamilyScheduling`` (``family_scheduling()``) keeps every case of a family on one worker. pytest-xdist's ``loadgroup``
  cannot do this here: it groups by an ``xdist_group`` marker that would have to be added to each
  of two thousand parametrized cases, and with pytest 9.2 and xdist 3.8 its ``@group`` suffix never
  reaches the node ids (the previous benchmark's finding). ``loadscope`` groups by module. So this
  is ``loadscope`` with the family as the scope, the costliest family first (``handout_order``),
  one family per worker at the start (xdist's own ``loadscope`` hands every worker a second unit
  at once, which would import a second family into the worker of the largest one), and the next
  family to whichever worker is about to run out, so that no estimate of a family's cost can leave
  a worker idle (the cases that wait on processes of their own are hard to estimate).

Cases that name no implementation (the machinery tests in ``tests/``) form one more unit.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict

import pytest

from adapters.registry import FAMILIES, FRAMEWORKS, IMPLEMENTATIONS, implementation_in, register_adapter
from adapters.rows import SECTIONS

#: The scope of cases that name no implementation.
NO_FAMILY = "no family"


def family_of(nodeid: str) -> str:
    """The framework family a test id runs (a porting case: its target's), or NO_FAMILY."""
    impl_id = implementation_in(nodeid)
    return IMPLEMENTATIONS[impl_id].framework if impl_id else NO_FAMILY


def selected_families(keyword: str, markers: str) -> set[str]:
    """The scopes (families, or NO_FAMILY for a section's column) a ``-k``/``-m`` selection can reach,
    decided before collection, to size the run.

    Each implementation and each column of a further section is asked whether the expressions could
    select one of its cases, as pytest would match them: a word that is part of its id or names one of
    its frameworks (its markers) matches; a word that names only other ones does not; any other word
    (a test name, a parameter) might, so it matches.
    """
    from _pytest.mark.expression import Expression

    from .sections import columns

    candidates = [(impl.id.lower(), (impl.framework,), impl.framework) for impl in IMPLEMENTATIONS.values()]
    # a column's cases go where the scheduler sends them: with its implementation's family where its id opens
    # with one (the workflow sections'), else to the scope of cases that name no implementation
    candidates += [(column_id.lower(), column.frameworks, family_of(f"[{column_id}]"))
                   for section in SECTIONS for column_id, column in columns(section).items()]
    names = [name for name, _, _ in candidates] + list(FRAMEWORKS)
    found = set()
    for name, frameworks, scope in candidates:

        def keyword_matches(word: str, own=(name, *frameworks)) -> bool:
            word = word.lower()
            if any(word in candidate for candidate in own):
                return True
            return not any(word in candidate for candidate in names)

        def marker_matches(word: str, frameworks=frameworks) -> bool:
            return word in frameworks or word not in FRAMEWORKS

        if (not keyword or Expression.compile(keyword).evaluate(keyword_matches)) and (
            not markers or Expression.compile(markers).evaluate(marker_matches)
        ):
            found.add(scope)
    return found


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the system says), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def automatic_workers(config) -> int:
    """How many workers a run without ``-n`` gets: one per family it reaches, at most one per core."""
    families = selected_families(config.option.keyword, config.option.markexpr)
    workers = min(len(families), available_cores())
    return workers if workers > 1 else 0


def pytest_addoption(parser):
    parser.getgroup("bnparity").addoption(
        "--bnparity-impl", action="append", default=[], metavar="MODULE:CLASS",
        help="also run your own adapter class (its `id` names its family) in every suite, the matrix and the report; "
             "repeatable. A package can register one for good under the entry point group bnparity.implementations",
    )


def pytest_configure(config):
    """One marker per family, so ``-m torch`` selects like ``-k torch``; ``section`` and one per section."""
    for framework in FRAMEWORKS:
        config.addinivalue_line("markers", f"{framework}: cases that run a {framework} implementation")
    config.addinivalue_line("markers", "section(column_id): the cells of the matrix's sections beyond the layers' conventions, by column")
    for section in SECTIONS:
        config.addinivalue_line("markers", f"{section.key}: the cells of the section {section.title!r}")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Register ``--bnparity-impl`` adapters (before anything reads the registry, workers included);
    one thread per framework in every run; start workers by default (before pytest-xdist reads
    ``-n``), unless told otherwise."""
    for target in config.getoption("bnparity_impl") or ():
        try:
            register_adapter(target)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    pin_threads()
    if not config.pluginmanager.hasplugin("xdist") or config.getoption("numprocesses", None) is not None:
        return
    if config.getoption("collectonly") or config.getoption("usepdb", False) or hasattr(config, "workerinput"):
        return  # nothing to distribute, a debugger to keep in this process, or already a worker
    workers = automatic_workers(config)
    if workers:
        # what ``-n workers`` means (xdist's own hook may already have read -n, so say it all)
        config.option.numprocesses = workers
        config.option.dist = "load" if config.option.dist == "no" else config.option.dist
        config.option.tx = ["popen"] * workers


#: Thread pools of the frameworks, sized by environment variables read when each is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")

#: The XLA flags every run sets (``XLA_FLAGS``, read when JAX starts its CPU backend), each with why.
#: A flag already named in ``XLA_FLAGS`` keeps its value.
XLA_SETTINGS = {
    # XLA's CPU thread pool: one thread, as for every other framework (pin_threads)
    "xla_cpu_multi_thread_eigen": "false",
    # XLA's LLVM IR emitters, not jaxlib 0.10's default MLIR fusion emitters: the same programs, every
    # result identical, compiled in about half the time (the benchmark's JAX figures; the git log has the history)
    "xla_cpu_use_fusion_emitters": "false",
}

#: Every environment variable a run sets for itself (``run_environment``), as the report's header names them.
RUN_VARIABLES = (*THREAD_VARIABLES, "XLA_FLAGS")


def run_environment(environ) -> dict[str, str]:
    """The environment variables a run sets before any framework is imported, given ``environ``:
    one thread per framework (``THREAD_VARIABLES``) and the XLA flags (``XLA_SETTINGS``), leaving
    alone whatever ``environ`` already sets. ``bench/run.py`` gives the floors the same, so that
    the two are measured alike."""
    values = {variable: environ.get(variable, "1") for variable in THREAD_VARIABLES}
    flags = environ.get("XLA_FLAGS", "").split()
    named = {flag.lstrip("-").split("=", 1)[0] for flag in flags}
    flags += [f"--{name}={value}" for name, value in XLA_SETTINGS.items() if name not in named]
    values["XLA_FLAGS"] = " ".join(flags)
    return values


def pin_threads() -> None:
    """Every framework of a run computes with one thread, in a serial run and in each worker (the
    workers, and the frameworks' own worker processes, inherit the environment), on any machine,
    and XLA compiles with ``XLA_SETTINGS`` (``run_environment``).

    Measured: PyTorch's CPU BatchNorm reduces a float32 batch in an order that depends on its thread
    count. The variance probe's 64 values with mean 1e4 come out with a relative error of 0.018 on
    two threads and 0.00081 on one, so with the machine's pools the matrix's evidence would depend
    on its cores and on whether the run is serial. One thread per process also keeps workers from
    competing: OpenMP and TensorFlow threads spin while they wait, and two workers with two-thread
    pools on two cores ran the TensorFlow family twice as slowly as one process did. A variable
    already set is left as it is.
    """
    os.environ.update(run_environment(os.environ))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist chooses its own scheduler
    return family_scheduling()(config, log)


@functools.cache
def family_scheduling() -> type:
    """``FamilyScheduling``, defined on first use: xdist's scheduler module is imported only by a distributed run."""
    from xdist.scheduler import LoadScopeScheduling

    from .ending import require_tested

    # it overrides LoadScopeScheduling's private members (_split_scope, _assign_work_unit, workqueue, ...)
    require_tested({"pytest-xdist": "3.8.0"}, "suites/scheduling.py's FamilyScheduling")

    class FamilyScheduling(LoadScopeScheduling):
        """pytest-xdist's ``loadscope`` with a family as the scope, every family assigned up front."""

        def _split_scope(self, nodeid: str) -> str:
            return family_of(nodeid)

        def remove_node(self, node) -> str | None:
            """LoadScopeScheduling's, except that the case a crashed worker was running is its result: it
            is reported as the crash once and never handed to another worker, which it would crash too."""
            workload = self.assigned_work.pop(node)
            pending = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
            if not pending:
                return None
            crashitem = pending[0]  # cases run in the order they were sent: the first not completed was running
            for unit in workload.values():
                if crashitem in unit:
                    unit[crashitem] = True
            self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
            for other in self.assigned_work:
                self._reschedule(other)
            return crashitem

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is not None:  # a replaced worker: hand out what the dead one left
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units: dict[str, OrderedDict] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), OrderedDict())[nodeid] = False
            for scope in handout_order(units):
                self.workqueue[scope] = units[scope]
            for node in self.nodes:  # one family each; the next when one runs out (LoadScopeScheduling._reschedule)
                if self.workqueue:
                    self._assign_work_unit(node)
                else:
                    node.shutdown()  # more workers than families
            if not self.workqueue:
                for node in self.nodes:
                    if not node.shutting_down:
                        node.shutdown()

    return FamilyScheduling


#: Seconds per case of each family relative to a JAX case (``registry.Family.case_cost``). Cases that name
#: no implementation are the converters' and data-parallel sections' that do not (most of it waiting on
#: their worker processes) and the machinery's tests in tests/ (many run pytest in a fresh interpreter).
RELATIVE_CASE_COST = {**{family.name: family.case_cost for family in FAMILIES.values()}, NO_FAMILY: 10.0}


def handout_order(units: dict[str, dict]) -> list[str]:
    """The families, costliest first (estimated: cases x RELATIVE_CASE_COST): the order in which
    workers take them, each worker the next one when it is about to run out, so that the longest
    family starts first and the small ones fill the gaps at the end."""
    cost = {scope: len(cases) * RELATIVE_CASE_COST.get(scope, 1.0) for scope, cases in units.items()}
    return sorted(units, key=lambda scope: (-cost[scope], scope))
