"""Reading rows and writing labels for `python -m <labeler> predict|vote IN -o OUT`.

One reader and one writer per format, streamed in batches. Inputs: .txt (one input per line),
.jsonl / .ndjson (one JSON object per line; blank lines are not rows), .csv (a header line),
.parquet (pyarrow); "-" is stdin. Outputs: .jsonl, .csv, .parquet (pyarrow); "-" is stdout.
Every error is a ValueError naming the file and the line (parquet: the row).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STDIO = "-"
INPUT_FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
                 ".parquet": "parquet"}
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
STDIO_FORMAT = "jsonl"  # of "-", unless --input-format / --output-format says otherwise
DECIMALS = 6  # of the probabilities written


@dataclass
class Batch:
    """Rows of an input file (dicts; strs for .txt lines), where each one is (for errors), and
    the file's name as given ("-": stdin; image paths are relative to its folder)."""

    rows: list
    places: list[str]
    file: str


def file_format(name: str, given: str | None, formats: dict[str, str], role: str) -> str:
    """The format of an input or output: `given`, else its extension's (stdio: jsonl)."""
    if given is not None:
        return given
    if name == STDIO:
        return STDIO_FORMAT
    suffix = Path(name).suffix.lower()
    if suffix not in formats:
        known = ", ".join(dict.fromkeys(formats))
        raise ValueError(f"{name}: unsupported {role} format {suffix or '(no extension)'!r} "
                         f"(use {known}, or --{role}-format)")
    return formats[suffix]


def read_rows(path: Path) -> list:
    """All rows of a file (see iter_batches)."""
    return [row for batch in iter_batches(str(path), 1 << 16) for row in batch.rows]


def iter_batches(name: str, rows: int, fmt: str | None = None) -> Iterator[Batch]:
    """The rows of file `name` ("-": stdin), `rows` at a time, streamed from the file."""
    fmt = file_format(name, fmt, INPUT_FORMATS, "input")
    label = "<stdin>" if name == STDIO else Path(name).name
    if fmt == "parquet":
        yield from _parquet_batches(name, label, rows)
        return
    with _open_binary(name) as handle:
        lines = _decoded_lines(handle, label)
        records = {"txt": _txt_rows, "jsonl": _json_rows, "csv": _csv_rows}[fmt](lines, label)
        while batch := list(itertools.islice(records, rows)):
            yield Batch([row for row, _ in batch], [place for _, place in batch], name)


def _open_binary(name: str):
    if name == STDIO:
        return open(sys.stdin.fileno(), "rb", closefd=False)
    path = Path(name)
    if path.is_dir():
        raise ValueError(f"{name}: is a folder, not a file")
    if not path.exists():
        raise ValueError(f"{name}: no such file")
    return path.open("rb")


def _decoded_lines(handle, label: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its "\n") of a UTF-8 file, split on "\n" only (str.splitlines
    would also split on U+2028 and U+0085); a UTF-8 byte-order mark is skipped."""
    pending, number = b"", 0
    while chunk := handle.read(1 << 20):
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        for piece in pieces:
            number += 1
            yield number, _decode(piece + b"\n", label, number)
    if pending:
        yield number + 1, _decode(pending, label, number + 1)


def _decode(line: bytes, label: str, number: int) -> str:
    if b"\0" in line:
        raise ValueError(f"{label}: line {number}: a NUL byte; is it a binary file?")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{label}: line {number}: not UTF-8 text (byte 0x{line[err.start]:02x} "
                         f"at column {err.start + 1}); is it a binary file?") from None
    return text.removeprefix("\ufeff") if number == 1 else text


def _txt_rows(lines, label: str) -> Iterator[tuple[str, str]]:
    """Every line is one input, blank ones included (the labeler abstains on them)."""
    for number, text in lines:
        yield text.removesuffix("\n").removesuffix("\r"), f"{label}: line {number}"


def _json_rows(lines, label: str) -> Iterator[tuple[dict, str]]:
    for number, text in lines:
        if not text.strip():
            continue
        place = f"{label}: line {number}"
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{place}: invalid JSON: {err.msg} (column {err.colno})") from None
        if not isinstance(row, dict):
            kind = type(row).__name__
            raise ValueError(f"{place}: expected a JSON object, got {kind}")  # noqa: TRY004
        yield row, place


def _csv_rows(lines, label: str) -> Iterator[tuple[dict, str]]:
    consumed = {"line": 0}

    def texts():
        for number, text in lines:
            consumed["line"] = number
            yield text

    reader = csv.reader(texts())
    try:
        header = next(reader, None)
        if header is None:
            return
        start = consumed["line"] + 1
        for values in reader:
            place = f"{label}: line {start}"
            if values and len(values) != len(header):
                raise ValueError(f"{place}: {len(values)} fields, the header has {len(header)}")
            if values:
                yield dict(zip(header, values)), place
            start = consumed["line"] + 1
    except csv.Error as err:
        raise ValueError(f"{label}: line {consumed['line']}: {err}") from None


def _parquet_batches(name: str, label: str, rows: int) -> Iterator[Batch]:
    pq = _pyarrow_parquet(label, "reading")
    source = io.BytesIO(sys.stdin.buffer.read()) if name == STDIO else _existing(name)
    start = 1
    for batch in pq.ParquetFile(source).iter_batches(batch_size=rows):
        records = batch.to_pylist()
        yield Batch(records, [f"{label}: row {start + i}" for i in range(len(records))], name)
        start += len(records)


def _existing(name: str) -> str:
    _open_binary(name).close()  # the same errors as the other formats
    return name


def _pyarrow_parquet(label: str, doing: str):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{label}: {doing} .parquet needs pyarrow (pip install pyarrow)") from None
    return pq


class LabelWriter:
    """Labels written as they come, each row with the input's fields (an input field named like
    an output column is written as input_<name>), then `label` (empty or null = abstained) and
    the probabilities: `proba` (a list) in .jsonl and .parquet, `proba_<class>` columns in .csv.

    A file is written beside its target and moved into place by `close()`: a failed run leaves
    an earlier file as it was. "-" writes to stdout (.jsonl or .csv).
    """

    def __init__(self, name: str, fmt: str | None, classes: list[str]) -> None:
        self.name, self.classes = name, classes
        self.format = file_format(name, fmt, OUTPUT_FORMATS, "output")
        self.handle = self.table_writer = self.csv_writer = self.fields = None
        if name == STDIO:
            if self.format == "parquet":
                raise ValueError("-: parquet is not written to stdout; give a file name")
            self.handle, self.partial = sys.stdout, None
            return
        target = Path(name)
        if target.is_dir():
            raise ValueError(f"{name}: is a folder; give a file name")
        if not target.parent.is_dir():
            raise ValueError(f"{name}: the folder {target.parent} does not exist")
        if self.format == "parquet":
            _pyarrow_parquet(name, "writing")
        self.partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        if self.format != "parquet":
            self.handle = self.partial.open("w", encoding="utf-8", newline="")

    def write(self, rows: list, places: list[str], labels: list, proba) -> None:
        """One batch: its input rows (strs carry no fields), their places, labels, proba."""
        records = [self._record(row, label, probabilities)
                   for row, label, probabilities in zip(rows, labels, proba)]
        write = {"jsonl": self._jsonl, "csv": self._csv, "parquet": self._parquet}[self.format]
        write(records, places)

    def _record(self, row, label, probabilities) -> dict:
        carried = row if isinstance(row, dict) else {}
        outputs = {"label": label}
        values = [round(float(p), DECIMALS) for p in probabilities]
        if self.format == "csv":
            outputs.update({f"proba_{c}": p for c, p in zip(self.classes, values)})
        else:
            outputs["proba"] = values
        return {**{(f"input_{k}" if k in outputs else k): v for k, v in carried.items()}, **outputs}

    def _jsonl(self, records: list[dict], places: list[str]) -> None:
        for record in records:
            self.handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def _csv(self, records: list[dict], places: list[str]) -> None:
        if self.csv_writer is None:
            empty = ["label"] + [f"proba_{c}" for c in self.classes]
            self.fields = list(records[0]) if records else empty
            self.csv_writer = csv.writer(self.handle, lineterminator="\n")
            self.csv_writer.writerow(self.fields)
        for record, place in zip(records, places):
            if set(record) - set(self.fields):
                extra = ", ".join(sorted(set(record) - set(self.fields)))
                raise ValueError(f"{place}: fields {extra} are not in the first row's fields "
                                 "(a .csv output has the same columns in every row)")
            self.csv_writer.writerow([_cell(record.get(field)) for field in self.fields])

    def _parquet(self, records: list[dict], places: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.table_writer is None:
            schema = pa.Table.from_pylist(records or [{"label": None, "proba": [0.0]}]).schema
            schema = schema.set(schema.get_field_index("label"), pa.field("label", pa.string()))
            self.table_writer = pq.ParquetWriter(self.partial, schema)
        try:
            table = pa.Table.from_pylist(records, schema=self.table_writer.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as err:
            raise ValueError(f"{places[0]}: these rows do not fit the columns of the first "
                             f"batch written to {self.name}: {err}") from None
        self.table_writer.write_table(table)

    def close(self, *, done: bool) -> None:
        """Finish the file (`done`: every batch was written; else the partial file is removed)."""
        if done and self.format == "csv" and self.csv_writer is None:
            self._csv([], [])  # no rows: a header line
        if done and self.format == "parquet" and self.table_writer is None:
            self._parquet([], [])  # no rows: an empty table
        if self.table_writer is not None:
            self.table_writer.close()
        if self.handle is not None and self.handle is not sys.stdout:
            self.handle.close()
        if self.partial is not None and self.partial.exists():
            if done:
                os.replace(self.partial, self.name)
            else:
                self.partial.unlink()


def _cell(value) -> str:
    """A CSV cell: empty for None, JSON for lists and dicts."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
