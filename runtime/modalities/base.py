"""What every runtime modality provides to the labeler: user inputs -> program inputs -> model input."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


class InputKind:
    """How a labeler of one modality takes its inputs. `spec` is manifest.json's "input"."""

    name: str
    #: what one input is, for error messages ("a str", "a dict (one row)", ...)
    one_input: str
    #: inputs per model run, at most (None: the session's default)
    batch_rows: int | None = None

    def __init__(self, spec: dict):
        self.spec = spec

    def batch(self, inputs) -> list:
        """The program inputs of a batch of user inputs; TypeError / ValueError name the index."""
        return [self.one(x, index) for index, x in enumerate(as_batch(inputs, self.one_input))]

    def one(self, x, index: int | str | None = None):
        """The program input for one user input (`index`: its place in a batch, for errors)."""
        raise NotImplementedError

    def blank(self, value) -> bool:
        """Whether a program input carries no evidence, so the labeler abstains on it (text:
        nothing but whitespace); by default no input is blank."""
        return False

    def program_args(self, values: list, session) -> list:
        """What the programs receive for a batch of inputs (by default the inputs themselves;
        `session`: the labeler's model, for modalities whose programs read its outputs)."""
        return values

    def lengths(self, values: list) -> list[int] | None:
        """Per input, a length its model run costs grow with (None: all alike)."""
        return None

    def model_input(self, values: list) -> np.ndarray:
        """The array fed to the model's "input" for a batch of program inputs."""
        raise NotImplementedError

    def from_rows(self, rows: list, file: str) -> list:
        """User inputs from the rows of a CLI input file (dicts; strs for .txt lines); `file`:
        its path as given (errors name it; image paths are relative to its folder)."""
        raise NotImplementedError

    def example(self) -> str:
        """A Python literal of one input, for the package README."""
        raise NotImplementedError


def as_batch(inputs, one_input: str) -> list:
    """`inputs` as a list; a single input where a batch is expected is a TypeError."""
    if isinstance(inputs, (str, bytes, Mapping)):
        raise TypeError(f"expected a batch (a list) of inputs, each {one_input}; got one "
                        f"{type(inputs).__name__}: pass [x]")
    if isinstance(inputs, np.ndarray) and inputs.ndim == 0:
        raise TypeError("expected a batch (a list) of inputs, got a 0-d array")
    try:
        return list(inputs)
    except TypeError:
        raise TypeError(f"expected a batch (a list) of inputs, got {type(inputs).__name__}") from None


def where(index: int | str | None) -> str:
    """How an error names the input: "input 3" (its index in a batch), "the input", or the
    caller's own words (the compiler's "train.csv: row 4")."""
    if index is None:
        return "the input"
    return index if isinstance(index, str) else f"input {index}"


def rows_need(rows: list, file: str, kind: str) -> list[dict]:
    """The rows of a file that must hold fields (not .txt lines)."""
    if rows and not isinstance(rows[0], Mapping):
        raise ValueError(f"{Path(file).name}: a {kind} labeler reads .jsonl, .csv or .parquet rows")
    return rows
