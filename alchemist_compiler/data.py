"""Stage 2: read the task's data files into splits of program inputs (+ gold labels)."""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

import numpy as np

from .errors import DataError
from .modality import get_modality
from .spool import SpooledInputs
from .task import Task


@dataclass(frozen=True)
class Split:
    """One data split: what programs receive, and gold labels where the split is labeled."""

    name: str
    inputs: list
    labels: np.ndarray | None = None  # int64 class indices
    weak_labels: np.ndarray | None = None  # int8 (n, m) precomputed votes, -1 = abstain
    #: what the labeler takes, when programs receive something computed from it (images: the
    #: files' paths, programs get concept scores); None: the inputs themselves
    raw_inputs: list | None = None
    groups: list[str] | None = None  # a labeled split's GROUP_COLUMN, for worst-group accuracy

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def labeler_inputs(self) -> list:
        """What the distilled model (and the emitted labeler) reads for each row."""
        return self.inputs if self.raw_inputs is None else self.raw_inputs

    def take(self, rows: np.ndarray) -> Split:
        """The split restricted to `rows` (indices, in the order given)."""

        def pick(values):
            return None if values is None else [values[i] for i in rows]

        return Split(self.name, pick(self.inputs),
                     None if self.labels is None else self.labels[rows],
                     None if self.weak_labels is None else self.weak_labels[rows],
                     pick(self.raw_inputs), pick(self.groups))


@dataclass(frozen=True)
class Dataset:
    train: Split
    valid: Split | None
    test: Split | None
    notes: tuple[str, ...] = ()  # warnings about the data (printed by the compile)
    input_spec: dict = field(default_factory=dict)  # the modality's, from train (manifest "input")
    exchanges: tuple = ()  # LLM exchanges of the modality's preparation (image concepts)
    exemplars: Split | None = None  # data.exemplars: labeled rows shown to the LLM instead of valid's

    @property
    def splits(self) -> dict[str, Split]:
        """The splits present, by name (train, valid, test, exemplars)."""
        return {s.name: s for s in (self.train, self.valid, self.test, self.exemplars) if s is not None}


#: file ending -> format; .gz endings are read through gzip
FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
           ".csv.gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv", ".json": "json", ".parquet": "parquet"}
DELIMITED = ("csv", "tsv")
GROUP_COLUMN = "group"  # in labeled splits: metrics report the worst group's accuracy
SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}  # what a one-column header may hide


def file_format(path: Path) -> str | None:
    """The format a data file's name says (jsonl, csv, tsv, json, parquet), or None."""
    ending = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    return FORMATS.get(ending.lower())


def read_rows(path: Path, delimiter: str | None = None, encoding: str = "utf-8") -> list[dict]:
    """Rows of a .jsonl(.gz), .json, .csv(.gz), .tsv(.gz) or .parquet file, as dicts.

    `delimiter` defaults to "," for .csv and a tab for .tsv; `encoding` applies to text formats
    (a UTF-8 byte-order mark is skipped).
    """
    return [row for chunk in row_chunks(path, delimiter, encoding) for row in chunk]


def row_chunks(path: Path, delimiter: str | None = None, encoding: str = "utf-8",
               size: int = 100_000) -> Iterator[list[dict]]:
    """The rows of a data file (as read_rows reads them), `size` rows at a time, reading the
    file as it goes (a .json file is read whole)."""
    kind = file_format(path)
    if kind == "jsonl":
        rows = _jsonl_rows(path, encoding)
    elif kind in DELIMITED:
        separator = delimiter or ("\t" if kind == "tsv" else ",")
        rows = _delimited_rows(path, encoding, separator)
    elif kind == "json":
        rows = iter(_read_json(path, encoding))
    elif kind == "parquet":
        rows = _parquet_rows(path, size)
    else:
        raise DataError(f"{path.name}: unsupported format (use {', '.join(FORMATS)})")
    while chunk := list(islice(rows, size)):
        yield chunk


@contextmanager
def _text(path: Path, encoding: str):
    """The file as text (through gzip for .gz), decoding and OS errors as DataError."""
    opener = gzip.open if path.suffix == ".gz" else open
    encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        with opener(path, "rt", encoding=encoding) as handle:
            yield handle
    except UnicodeDecodeError as err:
        raise DataError(f"{path.name}: not valid {err.encoding}: set data.encoding "
                        "(e.g. latin-1, cp1252)") from None
    except OSError as err:
        raise DataError(f"{path.name}: cannot read: {err}") from None


def _jsonl_rows(path: Path, encoding: str) -> Iterator[dict]:
    # lines end at "\n" (or "\r"): not at U+0085 or U+2028 inside JSON strings
    with _text(path, encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path.name}: row {number}: invalid JSON: {err.msg}") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name}: row {number}: expected a JSON object")
            yield row


def _delimited_rows(path: Path, encoding: str, separator: str) -> Iterator[dict]:
    with _text(path, encoding) as handle:
        yield from csv.DictReader(handle, delimiter=separator)


def _read_json(path: Path, encoding: str) -> list[dict]:
    with _text(path, encoding) as handle:
        text = handle.read()
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path.name}: invalid JSON: {err.msg} (line {err.lineno})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path.name}: expected a JSON list of objects")
    return rows


def _parquet_rows(path: Path, size: int) -> Iterator[dict]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise DataError(f"{path.name}: reading parquet needs pyarrow ({err})") from None
    for batch in pq.ParquetFile(path).iter_batches(batch_size=size):
        yield from pa.Table.from_batches([batch]).to_pandas().to_dict("records")


def parse_label(value, class_names: list[str], where: str) -> int:
    """A gold label given as a class index (int, integral float or digit string) or a class name;
    a name matches whatever its case and surrounding spaces when only one class matches."""
    if isinstance(value, bool):
        raise DataError(f"{where}: label {value!r} is not a class")
    if isinstance(value, str):
        if value in class_names:
            return class_names.index(value)
        folded = [i for i, n in enumerate(class_names) if n.casefold() == value.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        if value.strip().lstrip("-").isdigit():
            value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < len(class_names):
        return value
    close = difflib.get_close_matches(value, class_names, n=1) if isinstance(value, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(f"{where}: label {value!r} is not one of the classes {class_names}{hint}")


def _column_hint(column: str, names: list[str], delimited: bool) -> str:
    """Why `column` may be missing: case, spaces, another delimiter, a typo, no header."""
    same = [n for n in names if n.strip().casefold() == column.casefold()]
    if len(same) == 1:
        why = "remove the spaces around it" if same[0].strip() != same[0] else "names are case-sensitive"
        return f"; did you mean {same[0]!r}? ({why})"
    if delimited and len(names) == 1:
        separator = next((s for s in SEPARATORS if s in names[0]), None)
        if separator is not None:
            return (f"; the header looks {SEPARATORS[separator]}-separated: "
                    f"set data.delimiter: {json.dumps(separator)}")
    close = difflib.get_close_matches(column, names, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; the first line of the file must be the header" if delimited else ""


def require_column(row: dict, column: str, key: str, path: Path, where: str) -> None:
    """DataError naming the row, the columns it has and the likely cause, if `column` is missing."""
    if column in row:
        return
    names = [n for n in row if isinstance(n, str)]
    shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
    hint = _column_hint(column, names, file_format(path) in DELIMITED)
    raise DataError(f"{where}: no column {column!r} ({key}); the columns are {shown or 'none'}{hint}")


def _rows(task: Task, name: str, path: Path) -> list[dict]:
    rows = get_modality(task.modality).split_rows(task, path)
    if not rows:
        raise DataError(f"data.{name}: {path.name} has no rows")
    return rows


def load_split(task: Task, name: str, path: Path, labeled: bool, input_spec: dict,
               rows: list[dict] | None = None, first_row: int = 1) -> Split:
    """Read one split (unless its rows are given: the file's rows from number `first_row` on);
    labeled splits must carry a valid gold label on every row. `input_spec`: the modality's,
    from train."""
    modality = get_modality(task.modality)
    rows = _rows(task, name, path) if rows is None else rows
    kind, columns = modality.runtime(input_spec), modality.required_columns(input_spec)
    inputs, labels, weak = [], [], []
    for number, row in enumerate(rows, start=first_row):
        where = f"{path.name}: row {number}"
        for column in columns:
            require_column(row, column, "data.input", path, where)
        inputs.append(modality.program_input(kind, row, where))
        if labeled:
            require_column(row, task.data.label, "data.label", path, where)
            labels.append(parse_label(row[task.data.label], task.class_names, where))
        if task.programs.weak_labels_column:
            weak.append(_weak_votes(row, task, where))
    grouped = labeled and all(row.get(GROUP_COLUMN) is not None for row in rows)
    return Split(
        name=name,
        inputs=inputs,
        labels=np.asarray(labels, dtype=np.int64) if labeled else None,
        weak_labels=_stack_weak(weak, path) if weak else None,
        groups=[str(row[GROUP_COLUMN]) for row in rows] if grouped else None,
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
    _one_width({len(v) for v in weak}, path)
    return np.asarray(weak, dtype=np.int8)


def _one_width(widths: set[int], path: Path) -> None:
    """Every row's weak label list has the same length."""
    if len(widths) > 1:
        raise DataError(f"{path.name}: weak label lists have different lengths {sorted(widths)}")


def _spooled_train(task: Task, input_spec: dict, chunks: Iterator[list[dict]]) -> Split:
    """The train split read a chunk at a time, its program inputs spooled to disk."""
    path, weak, first_row = task.data.train, [], 1

    def program_inputs() -> Iterator[list]:
        nonlocal first_row
        for chunk in chunks:
            part = load_split(task, "train", path, False, input_spec, rows=chunk, first_row=first_row)
            first_row += len(chunk)
            if part.weak_labels is not None:
                weak.append(part.weak_labels)
            yield part.inputs

    inputs = SpooledInputs.write(program_inputs())
    _one_width({w.shape[1] for w in weak}, path)
    return Split("train", inputs, weak_labels=np.vstack(weak) if weak else None)


def _overlap(task: Task, name: str, split: Split | None, valid: Split | None, why: str) -> tuple[str, ...]:
    """A warning when data.<name> is valid's file, or at least half of its rows are in valid."""
    if valid is None or split is None:
        return ()
    if os.path.samefile(task.data.valid, getattr(task.data, name)):
        return (f"data.{name} is the same file as data.valid: {why}",)
    in_valid = set(map(repr, zip(valid.inputs, valid.labels.tolist())))
    shared = sum(repr(row) in in_valid for row in zip(split.inputs, split.labels.tolist()))
    if 2 * shared >= len(split):
        shared_rows = f"{shared} of {len(split)} data.{name} rows are also in data.valid"
        return (f"{shared_rows} (same input and label): {why}",)
    return ()


def load_dataset(task: Task) -> Dataset:
    """All splits of the task. The train split is unlabeled for the pipeline; it is read
    `data.chunk_rows` rows at a time, and kept on disk when it has more (spool.py). The input spec
    (tabular: the columns' types) comes from its first chunk."""
    spec, modality = task.data, get_modality(task.modality)
    chunks = modality.split_chunks(task, spec.train, spec.chunk_rows)
    first = next(chunks, None)
    if not first:
        raise DataError(f"data.train: {spec.train.name} has no rows")
    inputs = modality.input_spec(task, first, spec.train.name)
    second = next(chunks, None)
    if second is None:  # one chunk: in memory
        train = load_split(task, "train", spec.train, labeled=False, input_spec=inputs, rows=first)
    else:
        train = _spooled_train(task, inputs, chain([first, second], chunks))
    valid = load_split(task, "valid", spec.valid, labeled=True, input_spec=inputs) if spec.valid else None
    test = load_split(task, "test", spec.test, labeled=True, input_spec=inputs) if spec.test else None
    exemplars = load_split(task, "exemplars", spec.exemplars, labeled=True,
                           input_spec=inputs) if spec.exemplars else None
    return Dataset(
        train=train,
        valid=valid,
        test=test,
        notes=_overlap(task, "test", test, valid, "test metrics are not independent of what valid chose")
        + _overlap(task, "exemplars", exemplars, valid,
                   "the LLM sees rows that then choose its programs (valid keeps them)"),
        input_spec=inputs,
        exemplars=exemplars,
    )
