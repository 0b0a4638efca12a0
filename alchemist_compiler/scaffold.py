"""`alchemist init DATA_FILE`: a commented task.yaml guessed from a data file.

The input column is the one named like text (text, sentence, review, ...), else the text column
with the longest values; the label column is the one named like a label (label, class, ...), else
the column with the fewest distinct values (2 to 20). Classes are the label's distinct values
(sorted names, one per name whatever its case; for integer labels, class_0 .. class_K-1 to rename).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import yaml

from .data import file_format, read_rows
from .errors import DataError
from .resources import template_env

INPUT_NAMES = ("text", "sentence", "content", "review", "body", "comment", "message", "document",
               "tweet", "input")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "gold", "y")
MAX_CLASSES = 20
SAMPLE_ROWS = 10_000  # rows inspected for the guesses


def _named(columns: list[str], names: tuple[str, ...], exclude: set[str]) -> str | None:
    by_name = {c.strip().casefold(): c for c in columns if c not in exclude}
    return next((by_name[n] for n in names if n in by_name), None)


def _texts(rows: list[dict], column: str) -> list[str]:
    return [v for v in (r.get(column) for r in rows) if isinstance(v, str)]


def guess_input(rows: list[dict], columns: list[str], exclude: set[str]) -> tuple[str, str]:
    """(column, why): named like text, else the text column with the longest values."""
    named = _named(columns, INPUT_NAMES, exclude)
    if named is not None:
        return named, "its name"
    lengths = {c: sum(map(len, _texts(rows, c))) / len(rows) for c in columns if c not in exclude}
    texts = [c for c in lengths if len(_texts(rows, c)) * 2 >= len(rows)]
    if not texts:
        raise DataError(f"no column holds text; the columns are {', '.join(map(repr, columns))}")
    column = max(texts, key=lengths.get)
    return column, f"the longest text ({lengths[column]:.0f} characters on average)"


def guess_label(rows: list[dict], columns: list[str], exclude: set[str]) -> tuple[str | None, str]:
    """(column, why): named like a label, else the one with the fewest distinct values (2-20)."""
    named = _named(columns, LABEL_NAMES, exclude)
    if named is not None:
        return named, "its name"
    distinct = {c: len({repr(r.get(c)) for r in rows}) for c in columns if c not in exclude}
    candidates = [c for c, n in distinct.items() if 2 <= n <= MAX_CLASSES]
    if not candidates:
        return None, "no column has 2 to 20 distinct values"
    column = min(candidates, key=distinct.get)
    return column, f"{distinct[column]} distinct values"


def guess_classes(rows: list[dict], label: str | None) -> tuple[list[str], str]:
    """Class names in label order, and what to check about them."""
    values = [r.get(label) for r in rows] if label else []
    values = [v.strip() if isinstance(v, str) else v for v in values if v not in (None, "")]
    if values and all(isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in values):
        k = max(int(v) for v in values) + 1
        note = f"the labels are indices: rename class_0 .. class_{k - 1} in index order"
        return [f"class_{i}" for i in range(k)], note
    spellings = Counter(map(str, values))  # labels match whatever their case: one class per name
    by_name = {}
    for spelling, _ in spellings.most_common():
        by_name.setdefault(spelling.casefold(), spelling)
    names = sorted(by_name.values(), key=str.casefold)
    if not 2 <= len(names) <= MAX_CLASSES:
        return ["negative", "positive"], "no label values found: these are placeholders"
    return names, f"the {len(names)} values of {label!r}"


def _sniffed_delimiter(path: Path) -> str | None:
    """A .csv's delimiter when it is not a comma (e.g. ';'), from its first line."""
    if file_format(path) != "csv" or path.suffix == ".gz":
        return None
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = handle.readline()
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        return None
    return None if delimiter == "," else delimiter


def _task_name(folder: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
    return slug if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", slug) else "my-task"


def _labeled_siblings(path: Path) -> dict[str, Path]:
    """valid/test files beside a train file with the same ending (train.csv -> valid.csv)."""
    if not path.name.startswith("train"):
        return {}
    found = {s: path.with_name(s + path.name.removeprefix("train")) for s in ("valid", "test")}
    return {s: p for s, p in found.items() if p.is_file()}


def _one_of(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}"


def write_task_file(data_file: str | Path, task_file: str | Path, *, force: bool = False) -> dict:
    """Write a commented task.yaml for `data_file`; returns the guesses. Never overwrites a file
    unless `force`."""
    data, task_path = Path(data_file).resolve(), Path(task_file).resolve()
    if not data.is_file():
        raise DataError(f"{data_file}: {'is a folder' if data.is_dir() else 'file not found'}")
    if task_path.exists() and not force:
        raise DataError(f"{task_file} exists: not overwritten (--force replaces it)")
    delimiter = _sniffed_delimiter(data)
    rows = read_rows(data, delimiter)[:SAMPLE_ROWS]
    if not rows:
        raise DataError(f"{data.name}: has no rows")
    columns = list(dict.fromkeys(c for r in rows[:100] for c in r if isinstance(c, str)))
    label_named = _named(columns, LABEL_NAMES, set())
    input_column, input_reason = guess_input(rows, columns, {label_named} - {None})
    label, label_reason = guess_label(rows, columns, {input_column})
    classes, classes_note = guess_classes(rows, label)
    folder = task_path.parent

    def relative(path: Path) -> str:
        return Path(os.path.relpath(path, folder)).as_posix()

    env = template_env("init")
    env.filters["yaml"] = lambda value: yaml.safe_dump([value], default_flow_style=True,
                                                       allow_unicode=True, width=1000).strip()[1:-1]
    guesses = {"input": input_column, "label": label or "label", "classes": classes}
    text = env.get_template("task.yaml.j2").render(
        data_name=data.name, rows=len(rows), task_name=relative(task_path), name=_task_name(folder),
        description=f"Classify each {input_column} as {_one_of(classes)}.",
        classes_note=classes_note, train=relative(data),
        labeled={s: relative(p) for s, p in _labeled_siblings(data).items()},
        input_reason=input_reason, label_reason=label_reason, delimiter=delimiter, **guesses,
    )
    task_path.write_text(text, encoding="utf-8")
    return guesses
