"""The conventions matrix: rows, and its two renderings, made from observations alone.

An observation is one cell: what a probe in ``suites/test_conventions.py`` measured for one
implementation and one row, with the declaration beside it and the evidence. Nothing here reads
an adapter's declaration or runs a framework; an implementation without observations is "not run".
"""

from __future__ import annotations

import importlib
import json
import platform
from dataclasses import dataclass

from adapters.registry import IMPLEMENTATIONS


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    porting: str  #: what this row means when you port a model


ROWS: tuple[Row, ...] = (
    Row("momentum_weight", "Which value the momentum argument weighs",
        "PyTorch momentum m is Keras/Flax momentum 1 - m: translate the number, never copy it."),
    Row("default_momentum", "Default momentum (native value)",
        "The defaults 0.1 (PyTorch) and 0.99 (Keras) are not the same decay: 0.9 against 0.99."),
    Row("default_epsilon", "Default epsilon",
        "Carry epsilon explicitly: the defaults 1e-3 and 1e-5 change outputs wherever the variance is small."),
    Row("train_normalize_variance", "Variance that normalizes a batch in training",
        "Where a training batch is normalized with the moving statistics instead of its own, training outputs "
        "differ from the second step on, even where the moving statistics agree."),
    Row("moving_variance_update", "Variance that enters the moving average",
        "An unbiased update stores n/(n-1) times more; at small batches the moving variances drift apart."),
    Row("initial_mean", "Initial moving mean", "The first steps blend with this value: it is part of the state."),
    Row("initial_variance", "Initial moving variance", "Likewise; a model evaluated after few steps depends on it."),
    Row("first_step", "What the first step stores",
        "blend: decay * initial + (1 - decay) * batch, the founding question's surprise; copy stores the batch "
        "value; debiased divides a hidden average by 1 - decay**t, which gives the batch value only where it starts at 0."),
    Row("batch_size_1", "One value per channel in training",
        "Some refuse, others normalize everything to beta and store a zero (or NaN) variance; Paddle passes the "
        "batch through untouched and updates nothing."),
    Row("cumulative_average", "A cumulative (non-exponential) average",
        "Only where a native argument exists can it be ported; elsewhere it must be emulated."),
    Row("inference_formula", "What inference normalizes with",
        "Moving statistics with epsilon inside the root: port the four tensors and epsilon, and outputs match."),
    Row("half_precision", "Dtypes of output and moving statistics for half-precision input",
        "Statistics kept in half precision lose digits every step; float32 statistics do not."),
    Row("variance_robustness", "Moving variance of data with mean 1e4 and standard deviation 1e-2",
        "A one-pass variance (E[x^2] - E[x]^2) loses every digit there; two-pass and Welford do not."),
    Row("half_precision_range", "A float16 batch beyond float16's range (largest value 65504)",
        "Where the statistics are computed in float16, a variance beyond 65504 is inf and the batch normalizes to 0; "
        "where they are stored in float16, the moving variance is inf for good. Keep BatchNorm statistics in "
        "float32 (mixed precision), and batches within range."),
    Row("non_finite", "One NaN in one channel of a training batch",
        "A single bad value poisons the moving statistics of its channel for good (an exponential average never "
        "forgets a NaN); where it reaches every channel, the whole layer is lost. Check batches before training."),
    Row("float64_momentum", "Precision of momentum and epsilon in a float64 layer",
        "Where the momentum passes through a float32 attribute or tensor, float64 moving statistics move by up to "
        "~6e-8 relative per step: ported float64 models agree to float32's digits there, not float64's."),
    Row("state_names", "Native names of moving mean, moving variance, gamma, beta",
        "The keys to map when converting a checkpoint."),
)
ROW_IDS = tuple(row.id for row in ROWS)


#: The rows of the converters section: what a conversion path keeps and loses (suites/converter_checks.py
#: measures each; the last sentence is what it means when you convert).
CONVERTER_ROWS: tuple[Row, ...] = (
    Row("batchnorm_kept", "Is the BatchNorm still a BatchNorm",
        "A folded BatchNorm is inference arithmetic in the layer before it: exact for inference, but nothing is left to "
        "train or to read the moving statistics from; export unoptimized (or unfolded) to keep it."),
    Row("epsilon", "Epsilon (source 1e-3, PyTorch's default 1e-5)",
        "ONNX stores epsilon as a float32 attribute; a target that takes its own default changes every output."),
    Row("momentum", "Momentum (source PyTorch momentum 0.2: weight 0.2 on the new value)",
        "ONNX's momentum weighs the old value: 0.2 must arrive as 0.8. Inference never reads it; continued training does."),
    Row("statistics", "Moving mean, moving variance, gamma and beta",
        "Carried bit for bit where the node survives; folded, they live only inside the previous layer's weights."),
    Row("inference", "Inference output against the source's (float32 tolerance)",
        "What a converted model is for: every path measured here keeps it."),
    Row("training_export", "Exporting a source left in training mode (alone)",
        "Call model.eval() before exporting: what a training-mode export writes differs between exporters."),
    Row("continued_training", "20 more training steps in source and target (alone; batch sizes 2, 8, 64)",
        "The artifact trains by the target's conventions, not the source's: an ONNX BatchNormalization stores the "
        "biased variance where PyTorch stores the unbiased one, so the moving variances part most at small batches."),
)


def environment() -> dict[str, str]:
    """Python, platform and the installed version of every registered implementation's and conversion
    path's packages."""
    found = {"python": platform.python_version(), "platform": f"{platform.system()} {platform.machine()}"}
    for impl in IMPLEMENTATIONS.values():
        found.update(impl.versions())
    for section in SECTIONS:
        for column in section.columns().values():
            found.update(column.versions())
    return dict(sorted(found.items()))


def execution_modes() -> str:
    """How each implementation runs, grouped by mode: one line for the report's header."""
    modes: dict[str, list[str]] = {}
    for impl_id, impl in IMPLEMENTATIONS.items():
        modes.setdefault(impl.execution, []).append(impl_id)
    return "; ".join(f"{mode}: {', '.join(ids)}" for mode, ids in modes.items())


def build(cells: list[dict], section_cells: dict[str, list[dict]] | None = None) -> dict:
    """The matrix as the JSON document: every registered implementation, and every column of each
    further section (``SECTIONS``: the conversion paths, the data-parallel runs), run or not.
    ``section_cells`` holds each section's observations by its key."""
    section_cells = section_cells or {}
    implementations = {}
    for impl_id, impl in IMPLEMENTATIONS.items():
        mine = {c["row"]: {k: c[k] for k in ("observed", "declared", "evidence")} for c in cells if c["impl"] == impl_id}
        if mine:
            status = "run"
        elif impl.missing():
            status = f"not installed ({', '.join(impl.missing())})"
        else:
            status = "not run"
        implementations[impl_id] = {
            "framework": impl.framework,
            "version": ", ".join(f"{d} {v}" for d, v in impl.versions().items()),
            "execution": impl.execution,
            "status": status,
            "cells": {row: mine[row] for row in ROW_IDS if row in mine},
        }
    matrix = {"environment": environment(), "implementations": implementations}
    for section in SECTIONS:
        matrix[section.key] = section.build(section_cells.get(section.key, ()))
    return matrix


def shipped(matrix: dict) -> dict:
    """The matrix of bnparity's own implementations only, with their packages' versions: what the
    committed CONVENTIONS.md holds, whatever else a run registered (``--bnparity-impl``, entry points)."""
    own = {i: d for i, d in matrix["implementations"].items() if IMPLEMENTATIONS.get(i) is None or IMPLEMENTATIONS[i].shipped}
    dists = {d for i in own if i in IMPLEMENTATIONS for d in IMPLEMENTATIONS[i].distributions} | {"python", "platform"}
    # a column's versions() names the distributions of its environment of its own too ("onnx (.venv-onnx2tf)")
    dists |= {d for section in SECTIONS for column in section.columns().values() for d in column.versions()}
    return {"environment": {k: v for k, v in matrix["environment"].items() if k in dists}, "implementations": own,
            **{section.key: matrix.get(section.key, {}) for section in SECTIONS}}


def to_json(matrix: dict) -> str:
    return json.dumps(matrix, indent=2, sort_keys=False) + "\n"


def to_markdown(matrix: dict) -> str:
    """CONVENTIONS.md: readable on its own, stamped with versions, a porting line under each row."""
    impls = matrix["implementations"]
    # Framework versions only: the committed file must not change with the Python patch release or OS.
    env = ", ".join(f"{k} {v}" for k, v in matrix["environment"].items() if k not in ("python", "platform"))
    lines = [
        "# BatchNorm conventions, measured",
        "",
        "Generated by `pytest suites/test_conventions.py suites/test_converters.py suites/test_data_parallel.py --update-conventions`",
        "from what the installed frameworks did; never edited by hand. A cell marked **declared: ...** is one",
        "where the adapter's declaration and the observation differ.",
        "",
        f"Measured with: {env}.",
        "",
        "| implementation | framework | versions | runs as | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| `{i}` | {d['framework']} | {d['version']} | {d['execution']} | {d['status']} |" for i, d in impls.items()]
    for row in ROWS:
        lines += _row_markdown(row, "implementation", impls, "When you port")
    for section in SECTIONS:
        lines += section.markdown(matrix.get(section.key, {}))
    return "\n".join(lines) + "\n"


def _row_markdown(row: Row, column: str, columns: dict, advice: str) -> list[str]:
    """One row of the matrix as a section: a line per implementation (or path) with what it observed,
    the declaration beside it where they differ, and the evidence; then what the row means."""
    lines = ["", f"## {row.title} (`{row.id}`)", "", f"| {column} | observed | evidence |", "| --- | --- | --- |"]
    for column_id, data in columns.items():
        cell = data["cells"].get(row.id)
        if cell is None:
            lines.append(f"| `{column_id}` | {data['status'] if data['status'] != 'run' else 'not observed'} | |")
            continue
        observed = _md(cell["observed"])
        if cell["observed"] != cell["declared"]:
            observed += f" (**declared: {_md(cell['declared'])}**)"
        lines.append(f"| `{column_id}` | {observed} | {_md(cell['evidence'])} |")
    return lines + ["", f"*{advice}:* {row.porting}"]


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class Section:
    """A part of the matrix beyond the implementations' conventions: its own rows and its own
    columns (conversion paths, data-parallel runs), observed by its own suite, recorded under its
    own name, rendered after the conventions in every output."""

    key: str  #: its key in conventions.json, and the user property its cells travel as (bnparity_<key>_cell)
    title: str
    intro: str  #: what its columns start from, in a sentence or two
    column: str  #: what a column is ("path", "run")
    rows: tuple[Row, ...]
    advice: str  #: the label of each row's last line ("When you convert")
    registry: str  #: "module:NAME" of the dict id -> column (with versions(), missing(), distributions)

    @property
    def record(self) -> str:
        return f"bnparity_{self.key}_cell"

    def every_row(self, value: str) -> dict[str, str]:
        """A declaration of ``value`` in every row: a column the pinned versions cannot run at all."""
        return {row.id: value for row in self.rows}

    def columns(self) -> dict:
        module, _, name = self.registry.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, cells) -> dict:
        built = {}
        for column_id, column in self.columns().items():
            mine = {c["row"]: {k: c[k] for k in ("observed", "declared", "evidence")} for c in cells if c["column"] == column_id}
            status = "run" if mine else f"not installed ({', '.join(column.missing())})" if column.missing() else "not run"
            built[column_id] = {"version": ", ".join(f"{d} {v}" for d, v in column.versions().items()), "status": status,
                                "cells": {row.id: mine[row.id] for row in self.rows if row.id in mine}}
        return built

    def markdown(self, columns: dict) -> list[str]:
        if not columns:
            return []
        lines = ["", f"# {self.title}", "", self.intro, "", f"| {self.column} | versions | status |", "| --- | --- | --- |"]
        lines += [f"| `{c}` | {d['version']} | {d['status']} |" for c, d in columns.items()]
        for row in self.rows:
            lines += _row_markdown(row, self.column, columns, self.advice)
        return lines


CONVERTERS = Section(
    "converters", "Converters",
    "A PyTorch source (momentum 0.2, epsilon 1e-3, trained 20 steps; the BatchNorm alone, after a Linear and "
    "after a Conv), or a Keras 3 or tf_keras one (momentum 0.8, epsilon 1e-5), through each conversion path, read back "
    "from the artifact the path wrote (`suites/test_converters.py`).",
    "path", CONVERTER_ROWS, "When you convert", "converters.registry:PATHS",
)
DATA_PARALLEL = Section(
    "data_parallel", "Data-parallel BatchNorm",
    "One global batch split across two replicas (replica 0: [-1, 0, 1, 0], replica 1: [9, 10, 11, 10]; global mean 5 and "
    "variance 25.5, each replica's variance 0.5) in each framework's own data-parallel machinery, one training step at "
    "decay 0; then two steps at decay 0.5, and one step with replicas of unequal sizes (`suites/test_data_parallel.py`).",
    "run", (
        Row("normalizes_with", "Statistics each replica normalizes its batch with in training",
            "Without a synchronizing argument each replica normalizes with its own batch: a model trained on N devices "
            "is not the model trained on one device with N times the batch."),
        Row("combined_variance", "How the replicas' variances are combined",
            "Pooled over all replicas is the one-device variance; a mean of the replicas' variances misses the spread "
            "between their means."),
        Row("replicas_agree", "Moving statistics on each replica after the step",
            "Unsynchronized replicas hold different moving statistics: which one a checkpoint keeps decides inference."),
        Row("unbiased_count", "Correction of the variance that enters the moving average",
            "PyTorch stores n/(n-1) times the batch variance; under a synchronized layer n may be the replica's count "
            "or the global one, and the two differ by 25% at four examples per replica."),
        Row("uneven_replicas", "Replicas with unequal batch sizes (6 and 2 examples)",
            "A synchronized layer that averages the replicas' means weighs a replica of 2 examples like one of 6; "
            "weighting by count gives the one-device statistics."),
        Row("read_outside", "What a read of the moving statistics outside the replicas returns",
            "What a checkpoint holds: replica 0's statistics, the value every replica holds, or one per replica that "
            "the script must choose from."),
        Row("inference", "What each replica normalizes with in inference after the step (replica 0's batch on every replica)",
            "Where replicas hold different moving statistics, the same input gets a different prediction on each "
            "replica unless the framework hands them one replica's."),
        Row("next_step", "What each replica's moving statistics are updated from at the next step",
            "PyTorch DDP's default broadcast_buffers=True makes every rank start each step from rank 0's: a rank's own "
            "statistics then last one step; with it off, or in JAX, each replica keeps its own unless synchronized."),
    ), "When you port a data-parallel model", "parallel.registry:RUNS",
)
#: The sections after the conventions, in the order every output renders them.
SECTIONS: tuple[Section, ...] = (CONVERTERS, DATA_PARALLEL)
