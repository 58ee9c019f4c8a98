"""The columns of the workflow sections and what each kind of column does, in one interface per
section; the frameworks' classes live side by side in one module per section."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from adapters import base
from adapters.registry import Column, implementation


@dataclass(frozen=True)
class WorkflowColumn(Column):
    """A column of a workflow section: one implementation's layer under one mechanism (a freezing
    switch, a precision policy, a compiler, a folding), run where its implementation runs (its worker,
    or the test process), so a family's selection runs it beside the family's other cases."""

    implementation: str = ""
    mechanism: str = ""


def workflow_column(impl_id: str, mechanism: str, target: str, also: tuple[str, ...] = (), worker: str | None = None) -> WorkflowColumn:
    """The column ``<impl_id>-<mechanism>``: the implementation's packages and worker, and ``also`` the
    packages the mechanism adds (an optimizer library, a precision policy's); ``worker``, where the
    mechanism needs a process of its own (one of WORKERS)."""
    impl = implementation(impl_id)
    return WorkflowColumn(f"{impl_id}-{mechanism}", target, (*impl.distributions, *also), (impl.framework,),
                          worker=worker or impl.worker, implementation=impl_id, mechanism=mechanism)


def numpy(value) -> np.ndarray:
    """A framework's tensor (or a list of them) as a float64 NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().float()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(np.asarray(value, dtype=np.float32) if str(getattr(value, "dtype", "")) == "bfloat16" else value, np.float64)


@dataclass
class Statistics:
    """The four tensors of a BatchNorm, per channel, float64."""

    mean: np.ndarray
    variance: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray

    @classmethod
    def of(cls, mean, variance, gamma, beta) -> Statistics:
        return cls(*(numpy(v).reshape(-1) for v in (mean, variance, gamma, beta)))

    def as_dict(self) -> dict:
        return {name: getattr(self, name).tolist() for name in ("mean", "variance", "gamma", "beta")}


#: What normalizes a training batch, in the frozen section's words.
MOVING_STATISTICS, BATCH_STATISTICS = "the moving statistics", "the batch's statistics"


def after_switch(effect: str, normalizes: str, statistics: str, parameters: str) -> str:
    """The ``parent_switch`` cell: what the switch did ("unfreezes it", "changes nothing") and what the
    next step then did."""
    return f"{effect}: {normalizes}, moving statistics {statistics}, gamma and beta {parameters}"


def fine_tuning(normalizes: str, statistics: str, parameters: str, parent_switch: str) -> dict[str, str]:
    """A frozen column's declaration, row by row."""
    return {"normalizes_with": normalizes, "moving_statistics": statistics, "gamma_beta": parameters, "parent_switch": parent_switch}


@dataclass
class FineTuningStep:
    """One training step of a frozen layer: the output of its training call, the tensors that output
    was computed with (``before``), and the tensors after the framework's optimizer step (``after``)."""

    output: np.ndarray
    before: Statistics
    after: Statistics
    note: str = ""  #: what else the step showed, for the evidence


class Frozen(abc.ABC):
    """A BatchNorm frozen by one of its framework's mechanisms and fine-tuned: a fresh layer (moving
    statistics 0 and 1, gamma 1, beta 0), the mechanism applied, then one step of the framework's own
    training API (its optimizer, plain SGD) on the loss mean(output * target)."""

    #: What the column does, row id -> value, checked against the observation.
    declared: dict[str, str]
    #: The switch a parent model (or a training loop) turns on for training, in the framework's words,
    #: run before a second step; None where the framework has none.
    parent_switch: str | None = None
    #: Where there is no parent switch: what the framework has instead, in its own terms.
    no_parent_switch: str = ""
    #: The least its check pays beyond its framework's import: one step of the mechanism, as code that
    #: ``bench/floor.py`` runs where the column runs (``x``: an (8, 4) float32 batch).
    floor: str = ""

    @abc.abstractmethod
    def fine_tune(self, batch: np.ndarray, target: np.ndarray, learning_rate: float, decay: float,
                  epsilon: float) -> list[FineTuningStep]:
        """Freeze, train one step on (batch, target); where ``parent_switch`` is set, turn it on and
        train a second step. ``batch`` is (N, C) float32; ``decay`` the weight of the old moving value."""


@dataclass
class PrecisionRun:
    """What training under a precision policy left: the dtypes of the last output and of the moving
    statistics, as the framework names them, and the moving statistics in float64."""

    output_dtype: str
    moving_dtype: str
    mean: np.ndarray
    variance: np.ndarray


class MixedPrecision(abc.ABC):
    """A float32 BatchNorm (alone, or after a float32 layer where the policy acts on a model) trained
    under one of its framework's mixed-precision policies, as its users turn it on."""

    #: What the column does, row id -> value, checked against the observation.
    declared: dict[str, str]
    #: The half-precision dtype the policy computes in.
    half: str = "float16"
    #: One step under the policy, as code that ``bench/floor.py`` runs where the column runs (see ``Frozen.floor``).
    floor: str = ""

    @abc.abstractmethod
    def train(self, batches: list[np.ndarray], decay: float, epsilon: float, input_dtype: str = "float32") -> PrecisionRun:
        """A fresh layer under the policy, trained on ``batches`` ((N, C), handed over in ``input_dtype``)
        with ``decay`` the weight of the old moving value; the policy is undone before returning."""


def dtype_name(value) -> str:
    """The dtype of a framework's tensor (or a dtype), as NumPy names it: ``adapters.base.dtype_name``'s."""
    return base.dtype_name(getattr(value, "dtype", value))


@dataclass
class CompiledRun:
    """What one path left after training, compiled or eager: the moving statistics after the first and
    after the last step, the inference output on the first batch, and what the path resolved to."""

    mode: str
    first: tuple[np.ndarray, np.ndarray]
    last: tuple[np.ndarray, np.ndarray]
    inference: np.ndarray


class Compiled(abc.ABC):
    """A BatchNorm trained through a compiler, as its users train with one, beside the same path run
    eagerly: the compiler may choose another variance algorithm, another accumulation dtype, or refuse."""

    #: What the column does, row id -> value, checked against the observation.
    declared: dict[str, str]
    #: One compile of the path, as code that ``bench/floor.py`` runs where the column runs.
    floor: str = ""
    #: Where the framework has no cumulative average: what it has, in its own terms.
    no_cumulative: str = ""

    @abc.abstractmethod
    def train(self, batches: list[np.ndarray], decay: float, epsilon: float, compiled: bool) -> CompiledRun:
        """A fresh layer trained on ``batches`` ((N, C) float32) through the path, or eagerly."""

    @abc.abstractmethod
    def stored_variance(self, batch: np.ndarray, epsilon: float, compiled: bool) -> np.ndarray:
        """The moving variance a fresh layer stores after one step at decay 0 (the batch's own)."""

    def cumulative(self, batches: list[np.ndarray], epsilon: float, compiled: bool) -> np.ndarray:
        """The moving mean of a cumulative average (PyTorch's momentum=None) after ``batches``."""
        raise NotImplementedError(self.no_cumulative)


@dataclass
class FoldingRun:
    """A BatchNorm folded into the layer before it: whether the result still holds a BatchNorm, and the
    inference output of the folded model and of the unfolded one, on the same batch."""

    folded: bool
    output: np.ndarray
    unfolded: np.ndarray
    what: str = ""  #: what the result holds in place of the BatchNorm, for the evidence


class Folding(abc.ABC):
    """A (Linear or Conv) -> BatchNorm model in inference, folded by a deployment path."""

    #: What the column does, row id -> value, checked against the observation.
    declared: dict[str, str]
    #: One folding, as code that ``bench/floor.py`` runs where the column runs.
    floor: str = ""
    #: The dtypes the path folds in, beyond float32; another dtype is a refusal in its own words.
    dtypes: tuple[str, ...] = ("float32",)

    @abc.abstractmethod
    def fold(self, weight: np.ndarray, statistics: Statistics, epsilon: float, batch: np.ndarray, dtype: str) -> FoldingRun:
        """Build the unfolded model (``weight``: the previous layer's (C, C) matrix, or a (C, C, 1, 1)
        kernel; no bias), fold it, run both on ``batch`` in ``dtype``."""
