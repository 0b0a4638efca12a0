"""Text: programs receive a `str`; the distilled model reads the raw string (hashing or MiniLM)."""

from __future__ import annotations

from typing import Any

from alchemist_runtime.modalities.text import TextInput

from ..errors import DataError
from .base import Modality


class TextModality(Modality):
    name = "text"
    program_arg_type = "str"
    default_featurizer = "hashing"
    runtime = TextInput

    def input_spec(self, task, train_rows: list[dict], file: str) -> dict:
        if not isinstance(task.data.input, str):
            raise DataError(f"data.input: text tasks take one column name, got {task.data.input!r}")
        return {"column": task.data.input, "max_chars": task.distill.max_chars}

    def required_columns(self, spec: dict) -> list[str]:
        return [spec["column"]]

    def program_input(self, kind: TextInput, row: dict, where: str) -> str:
        column = kind.spec["column"]
        if column not in row:
            raise DataError(f"{where}: no column {column!r} (data.input)")
        value = row[column]
        if value is None:
            return ""
        if not isinstance(value, str):
            raise DataError(f"{where}: column {column!r} is {type(value).__name__}, expected text")
        return kind.one(value)

    def describe(self, task, dataset) -> str:
        return "The input `x` is the raw text as a Python `str`."

    def render_input(self, value: Any, max_chars: int | None = 300) -> str:
        text = " ".join(str(value).split())
        if max_chars is None or len(text) <= max_chars:
            return text
        return text[: max_chars - 3] + "..."

    def probe_inputs(self, spec: dict | None = None) -> tuple[Any, ...]:
        return ("", "hello", "Check out my channel!!! http://example.com", "ÉCOLE été 🙂\n\t")
