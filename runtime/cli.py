"""`python -m <labeler> predict|vote IN -o OUT`: label a file offline, streamed in batches.

`predict` labels with the distilled model (`--programs`: combined with the label model where a
program votes), `vote` with the programs and the label model. Each
output row carries the input row's fields (an id, ...), then the label (empty = abstained) and
the probabilities; formats and their rules are in io.py. A user error is one line naming the
file and the line, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .io import STDIO, Batch, LabelWriter, iter_batches
from .labeler import Labeler, check_threshold
from .modalities import input_kind

BATCH_ROWS = 10_000
FORMATS = ("jsonl", "csv", "parquet")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _threshold(text: str) -> float:
    try:
        value = float(text)
        check_threshold(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}") from None
    return value


def parser_for(package_dir: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {package_dir.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what in (("predict", "with the distilled model"),
                       ("vote", "with the programs and the label model (runs the programs)")):
        command = commands.add_parser(name, help=f"label every input of a file {what}")
        command.add_argument("input", help=".txt, .jsonl, .csv or .parquet; - for stdin")
        command.add_argument("-o", "--output", required=True,
                             help=".jsonl, .csv or .parquet (needs pyarrow); - for stdout")
        command.add_argument("--column", help="the input column of the rows (text and image "
                                              "labelers; default: the one it was compiled with)")
        command.add_argument("--threshold", type=_threshold,
                             help="abstain (empty label) where the top probability is below it")
        command.add_argument("--input-format", choices=("txt", "jsonl", "csv", "parquet"),
                             help="when the extension does not say (stdin: jsonl)")
        command.add_argument("--output-format", choices=FORMATS,
                             help="when the extension does not say (stdout: jsonl)")
        command.add_argument("--workers", type=_positive, default=1,
                             help="processes labeling batches at once (default 1)")
        command.add_argument("--batch-rows", type=_positive, default=BATCH_ROWS,
                             help=f"rows read, labeled and written at a time "
                                  f"(default {BATCH_ROWS})")
        if name == "predict":
            command.add_argument("--programs", action="store_true",
                                 help="also run the programs: where one votes, average the "
                                      "distilled model's and the label model's probabilities")
    return parser


def main(package_dir: Path, argv: list[str] | None = None) -> int:
    args = parser_for(package_dir).parse_args(argv)
    writer = None
    try:
        labeler = _make_labeler(package_dir, args.column, threads=None)
        if args.input != STDIO and args.output != STDIO and \
                Path(args.input).resolve() == Path(args.output).resolve():
            raise ValueError(f"{args.output}: is the input file; give another output")
        writer = LabelWriter(args.output, args.output_format, labeler.classes)
        count, abstained = label_file(package_dir, args, writer)
        writer.close(done=True)
    except (OSError, TypeError, ValueError) as err:
        if writer is not None:
            writer.close(done=False)
        print(f"error: {err}", file=sys.stderr)
        return 2
    shown = "<stdout>" if args.output == STDIO else args.output
    note = f" ({abstained} abstained)" if abstained else ""
    print(f"labeled {count} inputs -> {shown}{note}", file=sys.stderr)
    return 0


def label_file(package_dir: Path, args, writer: LabelWriter) -> tuple[int, int]:
    """Stream the input in batches through `args.command` into `writer`, with up to
    `args.workers` processes; memory holds at most 2 x workers batches. Returns the row count
    and how many of them abstained."""
    batches = iter_batches(args.input, args.batch_rows, args.input_format)
    programs = getattr(args, "programs", False)
    jobs = ((args.command, batch, args.threshold, programs) for batch in batches)
    count = abstained = 0
    if args.workers == 1:
        _init_worker(package_dir, args.column)
        results = map(_label_batch, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(args.workers, initializer=_init_worker,
                                   initargs=(package_dir, args.column))
        results = _bounded_map(pool, jobs, 2 * args.workers)
    try:
        for batch, labels, proba in results:
            writer.write(batch.rows, batch.places, labels, proba)
            count += len(labels)
            abstained += labels.count(None)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _close_worker()
    return count, abstained


def _bounded_map(pool, jobs, ahead: int):
    """pool.map(_label_batch, jobs) in order, with at most `ahead` jobs submitted at once."""
    pending = deque()
    for job in jobs:
        pending.append(pool.submit(_label_batch, job))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _make_labeler(package_dir: Path, column: str | None, threads: int | None) -> Labeler:
    """The labeler, reading rows' input from `column` when given (text and image labelers)."""
    labeler = Labeler(package_dir, threads=threads)
    if column is not None:
        if "column" not in labeler.inputs.spec:
            raise ValueError(f"--column: a {labeler.inputs.name} labeler reads whole rows, "
                             "not one column")
        spec = {**labeler.inputs.spec, "column": column}
        labeler.inputs = input_kind(labeler.manifest["modality"], spec)
    return labeler


_worker_labeler: Labeler | None = None


def _init_worker(package_dir: Path, column: str | None) -> None:
    global _worker_labeler
    _worker_labeler = _make_labeler(package_dir, column, threads=1)


def _close_worker() -> None:
    global _worker_labeler
    if _worker_labeler is not None:
        _worker_labeler.close()
        _worker_labeler = None


def _label_batch(job: tuple[str, Batch, float | None, bool]) -> tuple[Batch, list, object]:
    command, batch, threshold, programs = job
    labeler = _worker_labeler
    _check_column(labeler, batch)
    inputs = labeler.inputs.from_rows(batch.rows, batch.file)
    if len(inputs) != len(batch.rows):  # an image labeler's .txt: blank lines are not inputs
        kept = [i for i, row in enumerate(batch.rows) if row.strip()]
        batch = Batch([batch.rows[i] for i in kept], [batch.places[i] for i in kept], batch.file)
    try:
        if command == "predict":
            labels, proba = labeler.predict_and_proba(inputs, threshold, programs)
        else:
            labels, proba = labeler.vote_and_proba(inputs, threshold)
    except (TypeError, ValueError) as err:
        _raise_located(labeler, inputs, batch.places, err)
    return batch, labels, proba


def _check_column(labeler: Labeler, batch: Batch) -> None:
    """Rows (not .txt lines) of a labeler that reads one column must have it."""
    column = labeler.inputs.spec.get("column")
    if column is None:
        return
    for row, place in zip(batch.rows, batch.places):
        if isinstance(row, Mapping) and column not in row:
            found = ", ".join(map(str, row)) or "none"
            raise ValueError(f"{place}: no {column!r} field (fields: {found}); choose the "
                             "input with --column")


def _raise_located(labeler: Labeler, inputs: list, places: list[str], err: Exception):
    """Raise the error of the first input that fails on its own, named by its place."""
    for x, place in zip(inputs, places):
        labeler.inputs.one(x, place)
    raise err
