"""The interface of a conversion path, and what a converted artifact is read back as.

A path takes a trained source model and returns the artifact the converter writes (an ONNX model, a
target framework's module). The suite (``suites/test_converters.py``) then reads the artifact itself,
never the converter's logs: which operators it holds, each BatchNorm's attributes and tensors, and
what it computes. A path declares what it does, row by row, as an adapter declares its conventions;
the suite checks the declaration against the observation and fails with both where they differ.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class ConvertedBatchNorm:
    """One BatchNorm as the artifact holds it."""

    epsilon: float | None
    momentum: float | None  #: the artifact's own momentum number, in its own convention
    mean: np.ndarray
    variance: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    training_mode: int | None = None  #: ONNX's attribute, where the artifact has it
    native: Any = field(default=None, repr=False)  #: the target framework's layer, where it has one


@dataclass(frozen=True)
class Artifact:
    """What a conversion wrote: its operators (ONNX op types or module classes), its BatchNorms, and
    the converted object itself, to run."""

    operators: tuple[str, ...]
    batchnorms: tuple[ConvertedBatchNorm, ...]
    native: Any = field(repr=False)
    warnings: tuple[str, ...] = ()


def per_shape(values: dict[str, str]) -> str:
    """One matrix cell from a value per source shape (``sources.SHAPES``): the value where every shape
    agrees, else each shape named with its own."""
    distinct = set(values.values())
    return distinct.pop() if len(distinct) == 1 else "; ".join(f"{shape}: {value}" for shape, value in values.items())


def folding(alone: str, after_linear: str, after_conv: str) -> str:
    """A declared cell that depends on where the BatchNorm sits, as ``per_shape`` writes it."""
    return per_shape({"alone": alone, "after Linear": after_linear, "after Conv": after_conv})


class Converter(abc.ABC):
    """One conversion path, from a source framework to a target format or framework."""

    #: The frameworks (registry families) the path needs, source first.
    frameworks: ClassVar[tuple[str, ...]]
    #: The source model the path converts (``converters.sources.source``): "torch", "keras" or "tf_keras".
    source: ClassVar[str] = "torch"
    #: What the artifact is: "onnx" or a framework family, whose momentum convention it has.
    target: ClassVar[str]
    #: What the path does, row id -> value, checked against the observation.
    declared: ClassVar[dict[str, str]]

    @abc.abstractmethod
    def convert(self, model: Any, example: np.ndarray, training: bool = False) -> Artifact:
        """Convert the source ``model`` (in training mode where ``training``), traced with ``example``."""

    @abc.abstractmethod
    def run(self, artifact: Artifact, batch: np.ndarray) -> np.ndarray:
        """The converted model's inference output for ``batch``."""
