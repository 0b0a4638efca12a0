"""Text: programs receive a `str`; the distilled model hashes word and character n-grams."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from ..errors import DataError
from .base import Modality


class TextModality(Modality):
    name = "text"
    program_arg_type = "str"
    input_description = "The input `x` is the raw text as a Python `str`."
    probe_inputs = ("", "hello", "Check out my channel!!! http://example.com", "ÉCOLE été 🙂\n\t")

    def program_input(self, row: dict, column: str | list[str], where: str) -> str:
        if not isinstance(column, str):
            raise DataError(f"data.input: text tasks take one column name, got {column!r}")
        if column not in row:
            raise DataError(f"{where}: no column {column!r} (data.input)")
        value = row[column]
        if value is None:
            return ""
        if not isinstance(value, str):
            raise DataError(f"{where}: column {column!r} is {type(value).__name__}, expected text")
        return value

    def render_input(self, value: Any, max_chars: int = 300) -> str:
        text = " ".join(str(value).split())
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."

    def featurizer(self, spec: Any) -> onnx.ModelProto:
        """spec.features: "hashing" (n-grams, default) or "minilm" (sentence embeddings)."""
        if spec.features == "minilm":
            from ..distill.minilm import minilm_featurizer

            return minilm_featurizer()
        from ..distill.hashing import hashing_featurizer

        return hashing_featurizer()

    def batch_order(self, values: list[Any]) -> np.ndarray:
        """Shortest first: the string ops cost about rows x the batch's longest string."""
        return np.argsort([len(str(v)) for v in values], kind="stable")

    def model_input(self, values: list[Any]) -> np.ndarray:
        return np.asarray(values, dtype=object)
