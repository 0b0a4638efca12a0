"""The sandbox's cost: youtube's 10 recorded programs applied to many short texts, three ways.

In-process (the programs exec'd into this process: the no-isolation baseline, fine here because
these programs are the recorded, vetted ones), `ProgramPool` (worker processes, restricted
builtins, audit hook, per-call timer), and snorkel's PandasLFApplier. Every way must produce
the same votes. Issue target: sandboxed throughput >= 50% of in-process.

    python benchmarks/sandbox.py [--rows 100000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from alchemist_runtime.sandbox import ProgramPool
from fetch import fetch

from alchemist_compiler.programs.build import Program, program_from_answer

YOUTUBE = ROOT / "examples" / "youtube"
N_CLASSES = 2


def youtube_programs() -> list[str]:
    """Sources of the recorded programs, vetted and normalized as a compile would."""
    sources = []
    for answer in sorted((YOUTUBE / "answers").glob("program_*.md")):
        program = program_from_answer(answer.read_text("utf-8"), "general", answer.name, {})
        assert isinstance(program, Program), program
        sources.append(program.source)
    return sources


def short_texts(rows: int) -> list[str]:
    """youtube's train comments, repeated to `rows` texts."""
    fetch("youtube")
    lines = (YOUTUBE / "data" / "train.jsonl").read_text("utf-8").splitlines()
    return list(islice(cycle(json.loads(line)["text"] for line in lines), rows))


def in_process(sources: list[str], texts: list[str]) -> np.ndarray:
    labels = []
    for source in sources:
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102 - trusted baseline only
        labels.append(namespace["label"])
    return np.array([[label(x) for x in texts] for label in labels], dtype=np.int8).T


def sandboxed(workers: int) -> Callable[[list[str], list[str]], np.ndarray]:
    def run(sources: list[str], texts: list[str]) -> np.ndarray:
        with ProgramPool(sources, N_CLASSES, workers=workers) as pool:
            return pool.apply(texts).votes

    return run


def snorkel_pandas(sources: list[str], texts: list[str]) -> np.ndarray:
    import pandas as pd
    from snorkel.labeling import LabelingFunction, PandasLFApplier

    lfs = []
    for j, source in enumerate(sources):
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102 - trusted baseline only
        lfs.append(LabelingFunction(f"p{j}", f=lambda row, label=namespace["label"]: label(row.text)))
    matrix = PandasLFApplier(lfs).apply(pd.DataFrame({"text": texts}), progress_bar=False)
    return matrix.astype(np.int8)


def timed(method, sources: list[str], texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    votes = method(sources, texts)
    return time.perf_counter() - started, votes


def main(rows: int = 100_000, workers: tuple[int, ...] = (1, 2)) -> str:
    sources, texts = youtube_programs(), short_texts(rows)
    methods = [("in-process (no isolation)", "1", in_process)]
    methods += [("ProgramPool (sandbox)", str(w), sandboxed(w)) for w in workers]
    methods.append(("snorkel PandasLFApplier", "1", snorkel_pandas))
    lines = [
        (f"{rows:,} short texts x {len(sources)} programs; {os.cpu_count()} CPUs; "
         "total time, worker start included."),
        "",
        "| method | processes | seconds | rows/s | vs in-process |",
        "|---|---|---|---|---|",
    ]
    reference = baseline_rate = None
    for name, processes, method in methods:
        seconds, votes = timed(method, sources, texts)
        if reference is None:
            reference, baseline_rate = votes, rows / seconds
        assert np.array_equal(votes, reference), f"{name} votes differ from in-process"
        rate = rows / seconds
        lines.append(f"| {name} | {processes} | {seconds:.2f} | {rate:,.0f} | {rate / baseline_rate:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(main(args.rows, tuple(args.workers)))
