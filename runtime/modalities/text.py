"""Text: a program receives a `str`; the model reads a 1-D string tensor.

Input rules: a batch is a list of `str` (a bare `str` where a batch is expected is a TypeError,
as in scikit-learn); anything else (None, numbers, dicts, bytes) is a TypeError naming the index
and the type. Lone surrogates (which UTF-8 cannot encode) become U+FFFD, and each input is cut
to `max_chars` characters, for predictions and program votes alike and exactly as the training
inputs were, so no input can make the labeler's memory grow with its length. A blank input
(nothing but whitespace) carries no evidence: the labeler's labels abstain on it.
"""

from __future__ import annotations

import re

import numpy as np

from .base import InputKind, rows_need, where

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str, max_chars: int) -> str:
    """The first max_chars characters, lone surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text[:max_chars])


class TextInput(InputKind):
    """spec: {"column": the input field of rows, "max_chars": characters kept per input}."""

    name = "text"
    one_input = "a str"

    def one(self, x, index: int | str | None = None) -> str:
        if not isinstance(x, str):
            raise TypeError(f"{where(index)} is {type(x).__name__}, expected str")
        return clean_text(x, self.spec["max_chars"])

    def blank(self, value: str) -> bool:
        """Empty or whitespace only (after the cut to max_chars): no evidence for any class."""
        return not value.strip()

    def lengths(self, values: list) -> list[int]:
        """A string op's cost grows with the batch's longest string."""
        return [len(v) for v in values]

    def model_input(self, values: list) -> np.ndarray:
        return np.asarray(values, dtype=object)

    def from_rows(self, rows: list, file: str) -> list:
        """.txt lines as they are; from .jsonl/.csv/.parquet rows, the input column."""
        if rows and isinstance(rows[0], str):
            return rows
        column = self.spec["column"]
        for number, row in enumerate(rows_need(rows, file, self.name), start=1):
            if column not in row:
                raise ValueError(f"{file}: row {number} has no {column!r} field")
        return [row[column] for row in rows]

    def example(self) -> str:
        return '"some input"'
