"""The pytest plugin: gathers what the suites observed and writes the run's outputs.

Observations travel as ``user_properties`` on test reports, which pytest-xdist sends from every
worker to the controller; the controller alone writes, at the end of the session, so serial and
``-n N`` runs write the same files:

- ``conventions.json`` and ``CONVENTIONS.md``: the conventions matrix (``bnparity_cell`` records);
- ``report.html``: the pytest-html report, self-contained, with the matrix first, every comparison's
  errors and tolerance (``bnparity_comparison``), plots, and the answer to the founding question
  (``bnparity_seed``). It is written on every run, interrupted and failing ones included; ``--html``
  chooses another path.
"""

from __future__ import annotations

import functools
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from adapters.registry import IMPLEMENTATIONS
from suites import sections
from suites.records import CELL, COMPARISON, EXAMPLES, IMPL, SEED

from . import html, matrix, plots
from .committed import COMMITTED, COMMITTED_JSON

#: The multi-step cases drawn for every implementation, with what each shows.
TRAJECTORY_CASES = {
    ("test_after_many_steps", "decay0.9-batch2-features1"): (
        "decay 0.9, batch size 2: the unbiased update doubles the variance at batch size 2; debiased and copying "
        "first steps start at the batch value, a blend starts near the initial 0 and 1"
    ),
    ("test_after_many_steps", "decay0.99-batch32-features1"): (
        "decay 0.99 (Keras's default), batch size 32: a blend climbs from the initial values for hundreds of "
        "steps, while debiased and copying averages hold the batch statistics from the first step; Equinox's "
        "batch mode, debiasing an average that starts at variance 1, starts 99 above"
    ),
}
DRIFT_TEST = "test_unbiased_update_drift_after_the_port"


def pytest_addoption(parser):
    group = parser.getgroup("bnparity")
    group.addoption(
        "--bnparity-out",
        default="reports/out",
        help="folder for the run's outputs (conventions.json, CONVENTIONS.md, report.html); relative to the project root",
    )
    group.addoption(
        "--update-conventions",
        action="store_true",
        help=f"also write the committed reports/CONVENTIONS.md (needs every cell of the matrix observed: {sections.regenerate_command()})",
    )


def output_folder(config) -> Path:
    folder = Path(config.getoption("--bnparity-out"))
    return folder if folder.is_absolute() else config.rootpath / folder


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Ask pytest-html (configured after this) for a self-contained report in the output folder."""
    records = RunRecords(config)
    config.pluginmanager.register(records, "bnparity-records")
    if config.pluginmanager.hasplugin("html"):
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = str(output_folder(config) / "report.html")
            config.option.self_contained_html = True
        config.pluginmanager.register(HtmlReport(records), "bnparity-html")


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata, config):
    """The report's environment header (pytest-metadata): the packages of every registered
    implementation, with their versions or "not installed", how bnparity runs each implementation
    (eager, jax.jit, ...) and the environment it runs them in (one thread per framework, XLA's flags);
    Python and platform are already there."""
    from suites.scheduling import RUN_VARIABLES  # a plugin of its own, imported by pytest first

    for name, version in matrix.environment().items():
        if name not in ("python", "platform"):
            metadata[name] = html.text(version)
    metadata["bnparity execution"] = html.text(matrix.execution_modes())
    metadata["bnparity environment"] = html.text(" ".join(f"{name}={os.environ.get(name, '')}" for name in RUN_VARIABLES))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Name the implementation (or conversion path) a test runs on, for the report's framework and
    implementation columns and the seconds each costs (durations.json, the benchmark's table)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    impls = [value for value in params.values() if isinstance(value, str) and (value in IMPLEMENTATIONS or value in section_columns())]
    if impls:
        item.user_properties.append((IMPL, impls[0]))


@functools.cache
def section_columns() -> frozenset[str]:
    """The ids of every column of the matrix's further sections, gathered once, not at each test's setup."""
    return frozenset(column for section in matrix.SECTIONS for column in sections.columns(section))


def properties(report, name: str) -> list:
    return [value for key, value in getattr(report, "user_properties", ()) if key == name]


class RunRecords:
    """Everything the run recorded, gathered on the controller; writes the matrix at the end."""

    def __init__(self, config):
        self.config = config
        self.cells: list[dict] = []
        self.seeds: list[dict] = []
        self.examples: list[dict] = []
        #: each further section's observations (matrix.SECTIONS), by its key
        self.section_cells: dict[str, list[dict]] = defaultdict(list)
        self.steps: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)  # (test, case) -> impl -> quantity
        #: Seconds spent per implementation (setup, call and teardown of its cases), as the run measured them.
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        impl = next(iter(properties(report, IMPL)), None)
        self.seconds[impl or "no implementation"] += report.duration
        if report.when != "call":
            return
        self.cells += properties(report, CELL)
        self.seeds += properties(report, SEED)
        self.examples += properties(report, EXAMPLES)
        for section in matrix.SECTIONS:
            self.section_cells[section.key] += properties(report, section.record)
        name, _, case = report.nodeid.split("::")[-1].partition("[")
        case = case.rstrip("]")
        if impl and case.startswith(impl + "-"):
            case = case[len(impl) + 1 :]
        for comparison in properties(report, COMPARISON):
            if "steps" in comparison:
                self.steps[(name, case)].setdefault(impl or case, {})[comparison["quantity"]] = comparison["steps"]

    def matrix(self) -> dict:
        return matrix.build(self.cells, self.section_cells)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if hasattr(self.config, "workerinput"):
            return  # a worker: the controller writes
        out = output_folder(self.config)
        if self.seconds:
            out.mkdir(parents=True, exist_ok=True)
            seconds = dict(sorted(self.seconds.items(), key=lambda kv: -kv[1]))
            (out / "durations.json").write_text(json.dumps({k: round(v, 3) for k, v in seconds.items()}, indent=2) + "\n")
        if not self.cells and not any(self.section_cells.values()):
            return  # a run that probed no convention and no converter: leave the last matrix as it is
        result = self.matrix()
        out.mkdir(parents=True, exist_ok=True)
        (out / "conventions.json").write_text(matrix.to_json(result))
        markdown = matrix.to_markdown(result)
        (out / "CONVENTIONS.md").write_text(markdown)
        if self.config.getoption("--update-conventions"):
            own = matrix.shipped(result)
            columns = [*own["implementations"].items(), *(c for section in matrix.SECTIONS for c in own[section.key].items())]
            incomplete = [i for i, d in columns if d["status"] != "run"]
            if incomplete:
                raise pytest.UsageError(f"--update-conventions needs every implementation, conversion path and "
                                        f"data-parallel run; not run: {', '.join(incomplete)}")
            COMMITTED.write_text(matrix.to_markdown(own))
            # as CONVENTIONS.md, without what changes with the Python patch release or the OS
            stable = {name: version for name, version in own["environment"].items() if name not in ("python", "platform")}
            COMMITTED_JSON.write_text(matrix.to_json({**own, "environment": stable}))


class HtmlReport:
    """pytest-html's hooks: the extra columns, the failure details and the sections above the results."""

    COLUMNS = (("framework", "Framework"), ("impl", "Implementation"), ("quantity", "Quantity compared"),
               ("abs", "Max abs error"), ("rel", "Max rel error"), ("tolerance", "Tolerance"))

    def __init__(self, records: RunRecords):
        self.records = records

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report):
        report.title = "bnparity: BatchNorm moving statistics across frameworks"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix, summary, postfix, session):
        result = self.records.matrix()
        prefix.append(html.matrix_section(result))
        for section in matrix.SECTIONS:
            if self.records.section_cells.get(section.key):
                prefix.append(html.section_table(section, result[section.key]))
        if self.records.seeds:
            printed = self.records.seeds[0]["printed"]
            prefix.append(html.founding_section(sorted(self.records.seeds, key=order), printed))
        if self.records.examples:
            from suites.divergences import HALF_STATISTICS, NOT_DRAWN

            left_out = [(d.impl, d.region, d.measured_by) for d in NOT_DRAWN]
            left_out.append(("every implementation whose float16 variance beyond range normalizes to 0", "float16", HALF_STATISTICS))
            prefix.append(html.examples_section(self.records.examples, left_out))
        for number, ((test, case), shows) in enumerate(TRAJECTORY_CASES.items()):
            series = self.records.steps.get((test, case))
            if series:
                prefix.append(html.figure_section(
                    f"bnparity-trajectories-{number}", f"Moving statistics per step: {case}",
                    f"Channel 0 of <code>{test}[...-{case}]</code>, each implementation (solid) and the float64 "
                    f"reference for its conventions (dashed), at {html.text(shows)}.",
                    plots.trajectories(dict(sorted(series.items(), key=lambda kv: order({"impl": kv[0]}))), case),
                ))
        curves = [(case.rsplit("-", 1)[-1], s["actual"], s["expected"])
                  for (test, case), by_impl in sorted(self.records.steps.items()) if test == DRIFT_TEST
                  for quantities in by_impl.values() for name, s in quantities.items() if name == "moving variance drift per step"]
        if curves:
            prefix.append(html.figure_section(
                "bnparity-drift", "Porting drift: PyTorch's unbiased update against Keras 3",
                "Both layers trained on the same 100 batches at decay 0.9: PyTorch's running_var minus Keras 3's "
                "moving_variance, measured (solid) and predicted from n/(n-1) (dashed), for three batch sizes.",
                plots.drift(sorted(curves, key=lambda c: int(c[0].removeprefix("batch"))), "moving variance drift per step"),
            ))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells):
        cells[2:2] = [f'<th class="sortable" data-column-type="{key}">{label}</th>' for key, label in self.COLUMNS]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report, cells):
        impl = next(iter(properties(report, IMPL)), "")
        column = sections.column(impl)
        framework = (IMPLEMENTATIONS[impl].framework if impl in IMPLEMENTATIONS
                     else ", ".join(column.frameworks) if column else "")
        values = {"framework": framework, "impl": html.text(impl), **html.comparison_cells(properties(report, COMPARISON), properties(report, CELL))}
        cells[1] = f'<td class="col-testId">{html.text(report.nodeid + ("" if report.when == "call" else "::" + report.when))}</td>'
        cells[2:2] = [f'<td class="col-{key}">{values[key]}</td>' for key, _ in self.COLUMNS]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report, data):
        if report.failed:
            data.insert(0, html.failure_details(report.nodeid, properties(report, COMPARISON)))


def order(seed: dict) -> int:
    """Registry order, so every table and legend lists implementations the same way."""
    return list(IMPLEMENTATIONS).index(seed["impl"]) if seed["impl"] in IMPLEMENTATIONS else len(IMPLEMENTATIONS)
