"""`python -m <labeler> predict IN -o OUT`: label a file offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .io import read_rows, write_predictions
from .labeler import Labeler


def main(package_dir: Path, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {package_dir.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict", help="label every input of a .jsonl, .csv, .parquet or .txt file")
    predict.add_argument("input", type=Path)
    predict.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)

    labeler = Labeler(package_dir)
    try:
        inputs = labeler.inputs.from_rows(read_rows(args.input), str(args.input))
        proba = labeler.predict_proba(inputs)
    except (OSError, UnicodeDecodeError, TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_predictions(args.output, [labeler.classes[i] for i in proba.argmax(axis=1)], proba)
    print(f"labeled {len(inputs)} inputs -> {args.output}", file=sys.stderr)
    return 0
