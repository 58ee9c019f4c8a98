"""Figures for the HTML report, drawn with matplotlib from what the suites recorded, as PNG data URIs.

Nothing here runs a framework: each figure is drawn from the per-step values that ``assert_close``
recorded on the tests (``bnparity_comparison`` records with ``steps``), so a figure shows exactly
the numbers the assertions compared.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: the figures become PNG bytes
    import matplotlib.pyplot as plt

    return plt


def data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    _pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def trajectories(series: dict[str, dict[str, dict]], title: str) -> str:
    """Moving mean and variance per step: ``series[impl][quantity] = {"actual": [...], "expected": [...]}``.

    Each implementation is a solid line; each distinct reference trajectory (one per set of
    conventions) a dashed black line labelled with the implementations it is the reference of.
    """
    plt = _pyplot()
    quantities = ("moving mean per step", "moving variance per step")
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for axis, quantity in zip(axes, quantities):
        references: dict[tuple, list[str]] = {}
        for impl, found in series.items():
            if quantity not in found:
                continue
            actual, expected = found[quantity]["actual"], found[quantity]["expected"]
            axis.plot(range(1, len(actual) + 1), actual, linewidth=1.2, alpha=0.8, label=impl)
            references.setdefault(tuple(np.round(expected, 6)), []).append(impl)
        for expected, impls in references.items():
            label = "reference for " + ", ".join(i.split("-", 1)[1] for i in impls)
            axis.plot(range(1, len(expected) + 1), expected, "k--", linewidth=0.8, label=label if len(label) < 70 else label[:67] + "...")
        axis.set_title(quantity.replace(" per step", ""))
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(title, fontsize=10)
    return data_uri(figure)


def drift(curves: Iterable[tuple[str, list[float], list[float]]], title: str) -> str:
    """Porting drift per step: (label, measured, predicted) for each batch size, on a log scale."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for label, measured, predicted in curves:
        steps = range(1, len(measured) + 1)
        line, = axis.plot(steps, np.abs(measured), linewidth=1.5, label=f"{label}: measured")
        axis.plot(steps, np.abs(predicted), "--", color=line.get_color(), linewidth=1, label=f"{label}: predicted (1/(n-1))")
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("PyTorch running_var - Keras 3 moving_variance (channel 0)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    axis.set_title(title, fontsize=10)
    return data_uri(figure)


def failure(quantity: str, actual: list[float], expected: list[float]) -> str:
    """One failed trajectory against its reference, with the first step that left it marked."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3))
    steps = np.arange(1, len(actual) + 1)
    axis.plot(steps, actual, "o-", markersize=3, label="implementation")
    axis.plot(steps, expected, "k--", label="reference")
    axis.set_xlabel("step")
    axis.set_title(f"{quantity} (channel 0)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return data_uri(figure)
