"""Figures for the HTML report, drawn as SVG from what the suites recorded, as data URIs.

Nothing here runs a framework: each figure is drawn from the per-step values that ``assert_close``
recorded on the tests (``bnparity_comparison`` records with ``steps``), so a figure shows exactly
the numbers the assertions compared.

The figures are line charts written as SVG text by this module rather than drawn by matplotlib:
importing matplotlib and rasterizing two PNGs cost every run about 1.2 s (a fifth of
``pytest -k torch``), and SVG stays sharp when zoomed and is smaller in the self-contained report.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence

#: Line colours, cycled in the order series are drawn (matplotlib's "tab10").
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: Plot area of one panel, in SVG units (pixels at 100%).
WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 420, 250, 62, 30, 36


class Panel:
    """One set of axes: series of (x, y) lines scaled into a WIDTH x HEIGHT box at (x0, y0)."""

    def __init__(self, title: str, x0: float = 0, log: bool = False, ylabel: str = ""):
        self.title, self.x0, self.log, self.ylabel = title, x0, log, ylabel
        self.lines: list[tuple[list[float], str, bool, str]] = []  # ys, colour, dashed, label

    def line(self, ys: Sequence[float], colour: str, dashed: bool = False, label: str = "") -> None:
        self.lines.append(([float(y) for y in ys], colour, dashed, label))

    def _value(self, y: float) -> float | None:
        if not math.isfinite(y) or (self.log and y <= 0):
            return None
        return math.log10(y) if self.log else y

    def render(self) -> str:
        values = [v for ys, *_ in self.lines for v in map(self._value, ys) if v is not None]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high - low < 1e-12 * max(1.0, abs(high)):
            low, high = low - 0.5, high + 0.5
        pad = (high - low) * 0.05
        low, high = low - pad, high + pad
        steps = max((len(ys) for ys, *_ in self.lines), default=1)
        left, top = self.x0 + LEFT, TOP

        def x_of(i: int) -> float:
            return left + (i / max(steps - 1, 1)) * WIDTH

        def y_of(v: float) -> float:
            return top + HEIGHT - (v - low) / (high - low) * HEIGHT

        parts = [f'<rect x="{left}" y="{top}" width="{WIDTH}" height="{HEIGHT}" fill="white" stroke="#888"/>',
                 f'<text x="{left + WIDTH / 2}" y="{top - 10}" text-anchor="middle" font-size="13">{_text(self.title)}</text>',
                 f'<text x="{left + WIDTH / 2}" y="{top + HEIGHT + 30}" text-anchor="middle" font-size="11">step</text>']
        if self.ylabel:
            parts.append(f'<text x="{self.x0 + 12}" y="{top + HEIGHT / 2}" font-size="10" text-anchor="middle" '
                         f'transform="rotate(-90 {self.x0 + 12} {top + HEIGHT / 2})">{_text(self.ylabel)}</text>')
        for tick in _ticks(low, high):
            y = y_of(tick)
            label = f"1e{tick:g}" if self.log else f"{tick:.4g}"
            parts.append(f'<line x1="{left}" x2="{left + WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                         f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{label}</text>')
        for step in _ticks(1, steps, integer=True):
            x = x_of(int(step) - 1)
            parts.append(f'<text x="{x:.1f}" y="{top + HEIGHT + 14}" text-anchor="middle" font-size="10">{int(step)}</text>')
        for ys, colour, dashed, _ in self.lines:
            points, run = [], []
            for i, y in enumerate(ys):
                v = self._value(y)
                if v is None:  # a gap where the value cannot be drawn (NaN, or <= 0 on a log axis)
                    points.append(run)
                    run = []
                else:
                    run.append(f"{x_of(i):.1f},{y_of(v):.1f}")
            points.append(run)
            dash = ' stroke-dasharray="5,3"' if dashed else ""
            width = 1.0 if dashed else 1.5
            for run in points:
                if len(run) == 1:
                    x, y = run[0].split(",")
                    parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>')
                elif run:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>')
        return "".join(parts)


def _ticks(low: float, high: float, integer: bool = False) -> list[float]:
    """About five round tick values between low and high."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def figure(panels: list[Panel], legend: list[tuple[str, str, bool]], title: str = "") -> str:
    """The panels side by side, a legend (label, colour, dashed) on the right, as an SVG data URI."""
    legend_x = len(panels) * (LEFT + WIDTH + 20) + 10
    height = max(TOP + HEIGHT + BOTTOM + 20, 30 + 14 * len(legend))
    width = legend_x + (max((len(label) for label, *_ in legend), default=0) * 6 + 40 if legend else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
             '<rect width="100%" height="100%" fill="white"/>']
    if title:
        parts.append(f'<text x="10" y="14" font-size="12">{_text(title)}</text>')
    parts += [panel.render() for panel in panels]
    for i, (label, colour, dashed) in enumerate(legend):
        y = 30 + 14 * i
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="1.5"{dash}/>'
                     f'<text x="{legend_x + 30}" y="{y + 4}" font-size="10">{_text(label)}</text>')
    parts.append("</svg>")
    return "data:image/svg+xml;base64," + base64.b64encode("".join(parts).encode("utf-8")).decode("ascii")


def trajectories(series: dict[str, dict[str, dict]], title: str) -> str:
    """Moving mean and variance per step: ``series[impl][quantity] = {"actual": [...], "expected": [...]}``.

    Each implementation is a solid line; each distinct reference trajectory (one per set of
    conventions) a dashed black line labelled with the implementations it is the reference of.
    """
    quantities = ("moving mean per step", "moving variance per step")
    panels = [Panel(q.replace(" per step", ""), x0=i * (LEFT + WIDTH + 20)) for i, q in enumerate(quantities)]
    colours = {impl: COLOURS[i % len(COLOURS)] for i, impl in enumerate(series)}
    legend = [(impl, colours[impl], False) for impl in series]
    reference_labels: dict[str, None] = {}
    for panel, quantity in zip(panels, quantities):
        references: dict[tuple, list[str]] = {}
        for impl, found in series.items():
            if quantity not in found:
                continue
            panel.line(found[quantity]["actual"], colours[impl])
            references.setdefault(tuple(round(v, 6) for v in found[quantity]["expected"]), []).append(impl)
        for expected, impls in references.items():
            panel.line(expected, "#000", dashed=True)
            label = "reference for " + ", ".join(i.split("-", 1)[1] for i in impls)
            reference_labels[label if len(label) < 70 else label[:67] + "..."] = None
    legend += [(label, "#000", True) for label in reference_labels]
    return figure(panels, legend, title)


def drift(curves: Iterable[tuple[str, list[float], list[float]]], title: str) -> str:
    """Porting drift per step: (label, measured, predicted) for each batch size, on a log scale."""
    panel = Panel(title, log=True, ylabel="PyTorch running_var - Keras 3 moving_variance")
    legend = []
    for i, (label, measured, predicted) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        panel.line([abs(v) for v in measured], colour)
        panel.line([abs(v) for v in predicted], colour, dashed=True)
        legend += [(f"{label}: measured", colour, False), (f"{label}: predicted (1/(n-1))", colour, True)]
    return figure([panel], legend)


def failure(quantity: str, actual: list[float], expected: list[float]) -> str:
    """One failed trajectory (channel 0) against its reference."""
    panel = Panel(f"{quantity} (channel 0)")
    panel.line(actual, COLOURS[0])
    panel.line(expected, "#000", dashed=True)
    return figure([panel], [("implementation", COLOURS[0], False), ("reference", "#000", True)])
