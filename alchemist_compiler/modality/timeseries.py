"""Time series: programs receive one fixed-length window as a `list[float]`.

data.input names the window's columns, as a list ("x0", ..., "x251") or a prefix ("x*": the train
rows' columns that are the prefix and a number, by that number), or one list-valued field
("signal"). data.rate_hz and data.units, when given, go into the prompt and the manifest. The
prompt gives the length, the rate, the units, and per-class summary statistics of the labeled
valid rows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from alchemist_runtime.modalities.timeseries import WindowInput

from ..errors import DataError
from .base import Modality


class TimeSeriesModality(Modality):
    name = "timeseries"
    program_arg_type = "list[float]"
    default_featurizer = "window"
    runtime = WindowInput

    def input_spec(self, task, train_rows: list[dict], file: str) -> dict:
        chosen, first = task.data.input, train_rows[0]
        spec = {"rate_hz": task.data.rate_hz, "units": task.data.units}
        if isinstance(chosen, list):
            absent = next((c for c in chosen if c not in first), None)
            if absent is not None:
                raise DataError(f"{file}: row 1: no column {absent!r} (data.input)")
            return {**spec, "columns": list(chosen), "field": None, "length": len(chosen)}
        if chosen.endswith("*"):
            return {**spec, **_prefix_columns(chosen[:-1], first, file)}
        if chosen not in first:
            raise DataError(f"{file}: row 1: no field {chosen!r} (data.input)")
        if not isinstance(first[chosen], (list, str)):
            raise DataError(f"{file}: row 1: field {chosen!r} is not a list (data.input)")
        window = WindowInput({"length": 0, "field": chosen}).window_of_row(first, "")
        return {**spec, "columns": None, "field": chosen, "length": len(window)}

    def required_columns(self, spec: dict) -> list[str]:
        return spec["columns"] or [spec["field"]]

    def describe(self, task, dataset) -> str:
        spec = dataset.input_spec
        length, rate, units = spec["length"], spec["rate_hz"], spec["units"]
        sampled = f", sampled at {rate:g} Hz ({length / rate:.3f} s)" if rate else ""
        unit = f"; values in {units}" if units else ""
        lines = [(f"The input `x` is one window of the signal as a Python `list[float]` of "
                  f"{length} values{sampled}{unit}. `x[0]` is the earliest sample.")]
        if dataset.valid is not None:
            lines += ["", ("Summary statistics of the labeled validation windows, per class "
                           "(mean over the windows of each class):")]
            lines += _class_summaries(task, dataset.valid, rate)
        return "\n".join(lines)

    def render_input(self, value: Any, max_chars: int | None = 300) -> str:
        full = _values(value)
        if max_chars is None or len(full) <= max_chars:
            return full
        array = np.asarray(value, dtype=np.float64)
        summary = (f"{len(array)} values, min {array.min():.3g} at {int(array.argmin())}, "
                   f"max {array.max():.3g} at {int(array.argmax())}, mean {array.mean():.3g}; ")
        for step in range(2, len(array) + 1):
            text = f"{summary}every {step}th value: {_values(value[::step])}"
            if len(text) <= max_chars:
                return text
        return summary[:max_chars]

    def probe_inputs(self, spec: dict | None = None) -> tuple[Any, ...]:
        if spec is None:
            return ([0.0, 1.5, -2.25, 3.0, 0.5], [], [1e6] * 64)
        n = spec["length"]
        wave = [float(np.sin(2 * np.pi * 3 * i / max(n, 1))) for i in range(n)]
        spike = [0.0] * n
        spike[n // 3] = 5.0
        return ([0.0] * n, wave, spike, [-1e6] * n)


def _prefix_columns(prefix: str, row: dict, file: str) -> dict:
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    found = sorted((int(m.group(1)), name) for name in row if (m := pattern.fullmatch(name)))
    if not found:
        raise DataError(f"{file}: row 1: no column matches {prefix + '*'!r} (data.input)")
    columns = [name for _, name in found]
    return {"columns": columns, "field": None, "length": len(columns)}


def _values(window) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in window) + "]"


def _class_summaries(task, valid, rate: float | None) -> list[str]:
    windows = np.asarray(valid.inputs, dtype=np.float64)
    unit = (lambda i: f"{i / rate:.3f} s") if rate else (lambda i: f"sample {i:.0f}")
    lines = []
    for c, name in enumerate(task.class_names):
        rows = windows[valid.labels == c]
        if not len(rows):
            lines.append(f"- {c} ({name}): no validation windows")
            continue
        lines.append(
            f"- {c} ({name}), {len(rows)} windows: min {rows.min(axis=1).mean():.3g}, "
            f"max {rows.max(axis=1).mean():.3g}, mean {rows.mean():.3g}, "
            f"std {rows.std(axis=1).mean():.3g}, max at {unit(rows.argmax(axis=1).mean())}, "
            f"min at {unit(rows.argmin(axis=1).mean())}"
        )
    return lines
