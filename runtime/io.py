"""Reading rows and writing predictions for `python -m <labeler> predict IN -o OUT`."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def read_rows(path: Path) -> list:
    """Rows of .jsonl / .csv / .parquet (dicts), or the lines of .txt (strs).

    What a row means is the labeler's modality's business (`InputKind.from_rows`).
    """
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _lines(path)
    if suffix in (".jsonl", ".ndjson"):
        return [_json_row(line, path, number) for number, line in enumerate(_lines(path), 1)
                if line.strip()]
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if suffix == ".parquet":
        return _parquet_rows(path)
    raise ValueError(f"{path.name}: unsupported input format (use .jsonl, .csv, .parquet or .txt)")


def _json_row(line: str, path: Path, number: int):
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path.name}: row {number}: invalid JSON: {err.msg}") from None


def _parquet_rows(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{path.name}: reading .parquet needs pyarrow (pip install pyarrow)") from None
    return pq.read_table(path).to_pylist()


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
