"""The report's charts: matplotlib figures rendered to inline SVG (text kept as text, no external
reference, the same bytes for the same data). Compiler only: labelers never import matplotlib."""

from __future__ import annotations

import io
import re

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

BLUE, ORANGE, GREY = "#3a6ea5", "#e08a2c", "#9aa5b1"
STYLE = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9,
         "axes.spines.top": False, "axes.spines.right": False}
ROW_INCH = 0.28  # height per bar group or heatmap row


def to_svg(figure: Figure, name: str) -> str:
    """The figure as an <svg> element; `name` seeds its ids (unique per chart on a page)."""
    buffer = io.StringIO()
    with rc_context({**STYLE, "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    return re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)


def grouped_bars(labels: list[str], series: dict[str, list[float | None]], name: str, *,
                 xlabel: str, xmax: float | None = 1.0, value_format: str = "{:.3f}") -> str:
    """Horizontal bars, one group per label, one bar per series (None: no bar, marked "n/a")."""
    with rc_context(STYLE):
        figure = Figure(figsize=(7.5, 0.6 + ROW_INCH * len(labels) * max(1, len(series) * 0.6)),
                        layout="constrained")
        axes = figure.subplots()
        height = 0.8 / len(series)
        rows = np.arange(len(labels))
        for i, (series_name, values) in enumerate(series.items()):
            offsets = rows + (i - (len(series) - 1) / 2) * height
            bars = axes.barh(offsets, [0 if v is None else v for v in values], height,
                             label=series_name, color=(BLUE, ORANGE, GREY)[i % 3])
            axes.bar_label(bars, [("n/a" if v is None else value_format.format(v)) for v in values],
                           padding=2, fontsize=7)
        axes.set_yticks(rows, labels)
        axes.invert_yaxis()
        axes.set_xlabel(xlabel)
        if xmax is not None:
            axes.set_xlim(0, xmax * 1.12)
        if len(series) > 1:
            axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series), fontsize=7,
                        frameon=False)
    return to_svg(figure, name)


def heatmap(matrix: list[list[float]], rows: list[str], columns: list[str], name: str, *,
            xlabel: str, ylabel: str, integers: bool = False, vmax: float | None = None) -> str:
    """A matrix as coloured cells (vector shapes, no raster image) with their values written in."""
    values = np.asarray(matrix, dtype=np.float64)
    top = vmax if vmax is not None else max(float(values.max()), 1e-9)
    with rc_context(STYLE):
        size = 1.6 + 0.45 * max(len(rows), len(columns))
        figure = Figure(figsize=(size + 0.6, size), layout="constrained")
        axes = figure.subplots()
        axes.pcolormesh(values, cmap="Blues", vmin=0, vmax=top, edgecolors="white", linewidth=1)
        for (r, c), value in np.ndenumerate(values):
            axes.text(c + 0.5, r + 0.5, f"{int(value)}" if integers else f"{value:.2f}",
                      ha="center", va="center", fontsize=7, color="white" if value > top / 2 else "black")
        axes.set_xticks(np.arange(len(columns)) + 0.5, columns, rotation=45, ha="right")
        axes.set_yticks(np.arange(len(rows)) + 0.5, rows)
        axes.invert_yaxis()
        axes.set_aspect("equal")
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.spines[:].set_visible(False)
    return to_svg(figure, name)


def short_label(stem: str) -> str:
    """`p01_general_1a2b3c4d` -> `p01_general` (charts' tick labels)."""
    return re.sub(r"_[0-9a-f]{8}$", "", stem)
