"""Reading inputs and writing predictions for `python -m <labeler> predict IN -o OUT`."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def read_inputs(path: Path, column: str) -> list:
    """Inputs from .jsonl (the `column` field), .csv (the `column` column) or .txt (one per line)."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _lines(path)
    if suffix in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in _lines(path) if line.strip()]
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        raise ValueError(f"{path.name}: unsupported input format (use .jsonl, .csv or .txt)")
    missing = next((i for i, row in enumerate(rows, 1) if column not in row), None)
    if missing is not None:
        raise ValueError(f"{path.name}: row {missing} has no {column!r} field")
    return [row[column] for row in rows]


def _lines(path: Path) -> list[str]:
    """Lines split on "\n" (and "\r\n") only; str.splitlines() would also split on U+0085."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def write_predictions(path: Path, labels: list[str], proba) -> None:
    """One JSON object per line: {"label": ..., "proba": [...]}."""
    with path.open("w", encoding="utf-8") as handle:
        for label, row in zip(labels, proba):
            handle.write(json.dumps({"label": label, "proba": [round(float(p), 6) for p in row]}))
            handle.write("\n")
