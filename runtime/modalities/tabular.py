"""Tabular: a program receives one row as a dict, column -> float | str | None.

The input spec (manifest.json's "input", inferred from train by the compiler) lists the columns
in order with their type: "numeric" or "categorical" (with its categories, most frequent first).

Values, the same at compile time and labeling time:
- missing (None): None; a string listed in `missing` (task.yaml's data.missing); in a numeric
  column also an empty or blank string, NaN and +-inf;
- numeric: int, float, bool or a numeric string -> float; any other string is a ValueError,
  another type a TypeError;
- categorical: str as given; a number -> its str (integral floats without ".0"); a category not
  seen in train is kept for programs and is the model's "unknown" bucket.
A column absent from a row is a ValueError; columns not in the spec are ignored (the row may hold
an id or the label).

Model input: float32 (n, columns): numeric values, category codes (-1 unknown), NaN = missing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .base import InputKind, rows_need, where

NUMERIC, CATEGORICAL = "numeric", "categorical"


class TabularInput(InputKind):
    """spec: {"columns": [{"name", "type", "categories"?}], "missing": [str]}."""

    name = "tabular"
    one_input = "a dict (one row: column -> value)"

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.columns = spec["columns"]
        self.missing = frozenset(spec["missing"])
        self._codes = [
            {c: i for i, c in enumerate(column["categories"])} if column["type"] == CATEGORICAL
            else None
            for column in self.columns
        ]

    def one(self, x, index: int | str | None = None) -> dict:
        if not isinstance(x, Mapping):
            raise TypeError(f"{where(index)} is {type(x).__name__}, expected {self.one_input}")
        row = {}
        for column in self.columns:
            name = column["name"]
            if name not in x:
                raise ValueError(f"{where(index)}: no column {name!r}")
            convert = number if column["type"] == NUMERIC else category
            row[name] = convert(x[name], self.missing, f"{where(index)}: column {name!r}")
        return row

    def model_input(self, values: list) -> np.ndarray:
        out = np.full((len(values), len(self.columns)), np.nan, dtype=np.float32)
        for j, (column, codes) in enumerate(zip(self.columns, self._codes)):
            name = column["name"]
            for i, row in enumerate(values):
                value = row[name]
                if value is not None:
                    out[i, j] = value if codes is None else codes.get(value, -1)
        return out

    def from_rows(self, rows: list, file: str) -> list:
        return rows_need(rows, file, self.name)

    def example(self) -> str:
        values = {
            c["name"]: (c["categories"][0] if c["type"] == CATEGORICAL and c["categories"] else 0.0)
            for c in self.columns[:3]
        }
        more = ", ..." if len(self.columns) > 3 else ""
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in values.items()) + more + "}"


def number(value, missing: frozenset, place: str) -> float | None:
    """A numeric column's value as a float, None when missing."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if value in missing or not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{place} is numeric, got {value!r}") from None
    elif isinstance(value, numbers.Real):
        value = float(value)
    else:
        raise TypeError(f"{place} is numeric, got {type(value).__name__}")
    return value if math.isfinite(value) else None


def category(value, missing: frozenset, place: str) -> str | None:
    """A categorical column's value as a str, None when missing."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if value in missing else value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    raise TypeError(f"{place} is categorical, got {type(value).__name__}")
