"""Tabular: programs receive one row as a dict (numbers float, categories str, missing None).

data.input is a list of columns, or "*" for every column of the train rows except the label (and
the weak-labels column). A column is numeric when every value of it in train that is not
missing is a number or a numeric string, else categorical; the types, the categories (at most
MAX_CATEGORIES, most frequent first) and data.missing form the input spec that manifest.json
records and the runtime reads (alchemist_runtime.modalities.tabular: the value rules).
The prompt shows the schema computed from train: types, ranges and quantiles, categories, missing
rates.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from alchemist_runtime.modalities.tabular import (
    CATEGORICAL,
    NUMERIC,
    TabularInput,
    category,
    number,
)

from ..errors import DataError
from .base import Modality

MAX_CATEGORIES = 100  # per column, in the spec (the model's one-hot); the rest are "unknown"
SUMMARY_ROWS = 100_000  # the prompt's column statistics read at most this many train rows
PROMPT_CATEGORIES = 30  # per column, in the prompt
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


class TabularModality(Modality):
    name = "tabular"
    program_arg_type = "dict"
    default_featurizer = "tabular"
    runtime = TabularInput

    def input_spec(self, task, train_rows: list[dict], file: str) -> dict:
        names = self._columns(task, train_rows, file)
        missing = frozenset(task.data.missing)
        columns = []
        for name in names:
            values = [row.get(name) for row in train_rows]
            if _is_numeric(values, missing):
                columns.append({"name": name, "type": NUMERIC})
            else:
                counts = Counter(category(v, missing, name) for v in values)
                counts.pop(None, None)
                ranked = sorted(counts, key=lambda c: (-counts[c], c))[:MAX_CATEGORIES]
                columns.append({"name": name, "type": CATEGORICAL, "categories": ranked})
        return {"columns": columns, "missing": list(task.data.missing)}

    def required_columns(self, spec: dict) -> list[str]:
        return [column["name"] for column in spec["columns"]]

    @staticmethod
    def _columns(task, train_rows: list[dict], file: str) -> list[str]:
        chosen = task.data.input
        if chosen == "*":
            excluded = {task.data.label, task.programs.weak_labels_column}
            return [name for name in train_rows[0] if name not in excluded]
        if isinstance(chosen, str) or not chosen:
            raise DataError(f'data.input: tabular tasks take a list of columns or "*", got {chosen!r}')
        if task.data.label in chosen:
            raise DataError(f"data.input: {task.data.label!r} is the label column (data.label)")
        absent = next((c for c in chosen if c not in train_rows[0]), None)
        if absent is not None:
            raise DataError(f"{file}: row 1: no column {absent!r} (data.input)")
        return list(chosen)

    def describe(self, task, dataset) -> str:
        spec, total, inputs = dataset.input_spec, len(dataset.train), dataset.train.inputs[:SUMMARY_ROWS]
        over = f"the {total}" if len(inputs) == total else f"the first {len(inputs)} of the {total}"
        lines = [
            ("The input `x` is one row of a table as a Python `dict` mapping each column name to "
             "its value: numbers are `float`, categories are `str`, and a missing value is `None` "
             "(check for None before comparing or doing arithmetic)."),
            "",
            f"Columns (statistics over {over} unlabeled rows):",
        ]
        for column in spec["columns"]:
            values = [row[column["name"]] for row in inputs]
            lines.append(f"- {column['name']}: {_column_summary(column, values)}")
        return "\n".join(lines)

    def render_input(self, value: Any, max_chars: int | None = 300) -> str:
        text = ", ".join(f"{k}={_format(v)}" for k, v in value.items())
        if max_chars is None or len(text) <= max_chars:
            return text
        return text[: max_chars - 3] + "..."

    def probe_inputs(self, spec: dict | None = None) -> tuple[Any, ...]:
        if spec is None:
            return (
                {"age": 42.0, "income": 51000.5, "city": "Paris"},
                {"age": None, "income": 0.0, "city": None},
                {"age": -1.0, "income": 1e12, "city": ""},
            )
        typical = {c["name"]: (c["categories"][0] if c.get("categories") else
                               None if c["type"] == CATEGORICAL else 0.0) for c in spec["columns"]}
        empty = {c["name"]: None for c in spec["columns"]}
        extreme = {c["name"]: ("an unseen value" if c["type"] == CATEGORICAL else -1e12)
                   for c in spec["columns"]}
        return (typical, empty, extreme)


def _is_numeric(values: list, missing: frozenset) -> bool:
    """Every value is missing or a number (a column of only missing values is categorical)."""
    seen = False
    for value in values:
        try:
            converted = number(value, missing, "")
        except (TypeError, ValueError):
            return False
        seen = seen or converted is not None
    return seen


def _format(value) -> str:
    """Numbers as a person writes them: 39, 77516, 0.25 (not 39.0, 7.7516e+04)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def _share(part: int, whole: int) -> str:
    share = part / max(whole, 1)
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def _column_summary(column: dict, values: list) -> str:
    missing = f"missing {_share(sum(v is None for v in values), len(values))}"
    present = [v for v in values if v is not None]
    if column["type"] == NUMERIC:
        if not present:
            return f"number; {missing}"
        q = np.quantile(np.asarray(present, dtype=np.float64), QUANTILES)
        quantiles = ", ".join(f"{int(p * 100)}% {_format(float(v))}" for p, v in zip(QUANTILES, q))
        return (f"number, from {_format(min(present))} to {_format(max(present))} "
                f"(quantiles {quantiles}); {missing}")
    counts = Counter(present)
    top = sorted(counts, key=lambda c: (-counts[c], c))
    shown = ", ".join(f"{c!r} {_share(counts[c], len(values))}" for c in top[:PROMPT_CATEGORIES])
    rest = len(top) - PROMPT_CATEGORIES
    more = f", and {rest} more" if rest > 0 else ""
    return f"category, {len(top)} values: {shown}{more}; {missing}"
