"""Reading inputs and writing predictions for `python -m <labeler> predict IN -o OUT`."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def read_inputs(path: Path, column: str) -> list:
    """Inputs from .jsonl (the `column` field), .csv (the `column` column) or .txt (one per line)."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return path.read_text(encoding="utf-8").splitlines()
    if suffix in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        raise ValueError(f"{path.name}: unsupported input format (use .jsonl, .csv or .txt)")
    missing = next((i for i, row in enumerate(rows, 1) if column not in row), None)
    if missing is not None:
        raise ValueError(f"{path.name}: row {missing} has no {column!r} field")
    return [row[column] for row in rows]


def write_predictions(path: Path, labels: list[str], proba) -> None:
    """One JSON object per line: {"label": ..., "proba": [...]}."""
    with path.open("w", encoding="utf-8") as handle:
        for label, row in zip(labels, proba):
            handle.write(json.dumps({"label": label, "proba": [round(float(p), 6) for p in row]}))
            handle.write("\n")
