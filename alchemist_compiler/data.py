"""Stage 2: read the task's data files into splits of program inputs (+ gold labels)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .modality import get_modality
from .task import Task


@dataclass(frozen=True)
class Split:
    """One data split: what programs receive, and gold labels where the split is labeled."""

    name: str
    inputs: list
    labels: np.ndarray | None = None  # int64 class indices
    weak_labels: np.ndarray | None = None  # int8 (n, m) precomputed votes, -1 = abstain

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class Dataset:
    train: Split
    valid: Split | None
    test: Split | None


def read_rows(path: Path) -> list[dict]:
    """Rows of a .jsonl(.gz), .json, .csv(.gz) or .parquet file, as dicts."""
    suffixes = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffixes in (".jsonl", ".jsonl.gz", ".ndjson"):
        return _read_jsonl(path)
    if suffixes in (".csv", ".csv.gz"):
        return list(csv.DictReader(io.StringIO(_read_text(path))))
    if suffixes == ".json":
        rows = json.loads(_read_text(path))
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DataError(f"{path.name}: expected a JSON list of objects")
        return rows
    if suffixes == ".parquet":
        return _read_parquet(path)
    raise DataError(f"{path.name}: unsupported format (use .jsonl, .jsonl.gz, .csv, .json, .parquet)")


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path.name}: cannot read: {err}") from None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    # split on "\n" only: str.splitlines() also breaks on U+0085 and U+2028 inside JSON strings
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name}: row {number}: invalid JSON: {err.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path.name}: row {number}: expected a JSON object")
        rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict]:
    try:
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    except ImportError as err:
        raise DataError(f"{path.name}: reading parquet needs pyarrow ({err})") from None


def parse_label(value, class_names: list[str], where: str) -> int:
    """A gold label given as a class index (int or digit string) or a class name."""
    if isinstance(value, bool):
        raise DataError(f"{where}: label {value!r} is not a class")
    if isinstance(value, str) and value in class_names:
        return class_names.index(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int) and 0 <= value < len(class_names):
        return value
    raise DataError(f"{where}: label {value!r} is not one of the classes {class_names}")


def load_split(task: Task, name: str, path: Path, labeled: bool) -> Split:
    """Read one split; labeled splits must carry a valid gold label on every row."""
    modality = get_modality(task.modality)
    rows = read_rows(path)
    if not rows:
        raise DataError(f"data.{name}: {path.name} has no rows")
    inputs, labels, weak = [], [], []
    for number, row in enumerate(rows, start=1):
        where = f"{path.name}: row {number}"
        inputs.append(modality.program_input(row, task.data.input, where))
        if labeled:
            if task.data.label not in row:
                raise DataError(f"{where}: no label column {task.data.label!r} (data.label)")
            labels.append(parse_label(row[task.data.label], task.class_names, where))
        if task.programs.weak_labels_column:
            weak.append(_weak_votes(row, task, where))
    return Split(
        name=name,
        inputs=inputs,
        labels=np.asarray(labels, dtype=np.int64) if labeled else None,
        weak_labels=_stack_weak(weak, path) if weak else None,
    )


def _weak_votes(row: dict, task: Task, where: str) -> list[int]:
    column = task.programs.weak_labels_column
    votes = row.get(column)
    if isinstance(votes, str):
        votes = json.loads(votes)
    k = len(task.classes)
    if not isinstance(votes, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and -1 <= v < k for v in votes
    ):
        raise DataError(f"{where}: {column!r} must be a list of ints in [-1, {k - 1}]")
    return votes


def _stack_weak(weak: list[list[int]], path: Path) -> np.ndarray:
    widths = {len(v) for v in weak}
    if len(widths) != 1:
        raise DataError(f"{path.name}: weak label lists have different lengths {sorted(widths)}")
    return np.asarray(weak, dtype=np.int8)


def load_dataset(task: Task) -> Dataset:
    """All splits of the task. The train split is unlabeled for the pipeline."""
    spec = task.data
    return Dataset(
        train=load_split(task, "train", spec.train, labeled=False),
        valid=load_split(task, "valid", spec.valid, labeled=True) if spec.valid else None,
        test=load_split(task, "test", spec.test, labeled=True) if spec.test else None,
    )
