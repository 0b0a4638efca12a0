"""Time series: a program receives one fixed-length window as a `list[float]`.

The input spec (manifest.json's "input") gives the window's length and where rows keep it: the
columns of its values in order (`columns`, e.g. x0..x251) or one list-valued field (`field`).

A batch is a list of windows, each a list / tuple / 1-D array of numbers, or a row (dict) with
those columns or that field; a 2-D array (n, length) is a batch too. A window of another length,
a value that is not a number (numeric strings are read as numbers), NaN or +-inf is an error
naming the input and the position: windows have no missing values.

Model input: float32 (n, length).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping

import numpy as np

from .base import InputKind, as_batch, rows_need, where


class WindowInput(InputKind):
    """spec: {"length", "columns" | "field", "rate_hz", "units"}."""

    name = "timeseries"
    one_input = "a window (a list of numbers)"

    @property
    def length(self) -> int:
        return self.spec["length"]

    def batch(self, inputs) -> list:
        if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
            return self._array(inputs)
        return [self.one(x, i) for i, x in enumerate(as_batch(inputs, self.one_input))]

    def one(self, x, index: int | str | None = None) -> list[float]:
        if isinstance(x, Mapping):
            x = self.window_of_row(x, index)
        if isinstance(x, np.ndarray) and x.ndim == 1:
            return self._array(x[None, :], index)[0]
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{where(index)} is {type(x).__name__}, expected {self.one_input}")
        if len(x) != self.length:
            raise ValueError(f"{where(index)}: window has {len(x)} values, expected {self.length}")
        return [_value(v, index, position) for position, v in enumerate(x)]

    def window_of_row(self, row: Mapping, index: int | str | None):
        field = self.spec.get("field")
        if field is not None:
            if field not in row:
                raise ValueError(f"{where(index)}: no field {field!r}")
            value = row[field]
            return json.loads(value) if isinstance(value, str) else value
        missing = next((c for c in self.spec["columns"] if c not in row), None)
        if missing is not None:
            raise ValueError(f"{where(index)}: no column {missing!r}")
        return [row[c] for c in self.spec["columns"]]

    def _array(self, array: np.ndarray, index: int | str | None = None) -> list[list[float]]:
        """Rows of a 2-D numeric array, checked as a whole."""
        if array.shape[1] != self.length:
            raise ValueError(f"windows have {array.shape[1]} values, expected {self.length}")
        try:
            values = array.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"expected numbers, got an array of {array.dtype}") from None
        bad = np.argwhere(~np.isfinite(values))
        if len(bad):
            row, position = (int(i) for i in bad[0])
            raise ValueError(f"{where(row if index is None else index)}: value {position} is "
                             f"{values[row, position]}; a window must be finite")
        return values.tolist()

    def model_input(self, values: list) -> np.ndarray:
        return np.asarray(values, dtype=np.float32).reshape(len(values), self.length)

    def from_rows(self, rows: list, file: str) -> list:
        return rows_need(rows, file, self.name)

    def example(self) -> str:
        return f"[0.0] * {self.length}"


def _value(value, index: int | str | None, position: int) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{where(index)}: value {position} is {value!r}, not a number") from None
    elif isinstance(value, numbers.Real):
        value = float(value)
    else:
        raise TypeError(f"{where(index)}: value {position} is {type(value).__name__}, not a number")
    if not math.isfinite(value):
        raise ValueError(f"{where(index)}: value {position} is {value}; a window must be finite")
    return value
