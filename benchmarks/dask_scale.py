"""Past one machine: applying programs locally vs on a local Dask cluster vs snorkel's
DaskLFApplier, and the speed-up of compile-time rewriting (programs/optimize.py).

1. youtube's 10 recorded programs on N generated short texts (youtube comments, each made unique
   by a row number): ProgramPool with 1 and 2 processes, the compiler's Dask engine on a
   LocalCluster (2 workers x 1 thread, 127.0.0.1), snorkel's DaskLFApplier on the same cluster.
2. Each text example's recorded programs on its train split (cycled to R rows): ProgramPool(2)
   with the original and the rewritten programs (same votes, checked), snorkel PandasLFApplier.

snorkel's LFs call a program's `label` on the row's text, except on a non-string text, where they
abstain (-1): DaskLFApplier passes no `meta`, so dask infers the output's by calling the LFs on
its own dummy partition, whose text column holds "a" and <NA>; `label(<NA>)` would raise
(`boolean value of NA is ambiguous`). Every real row is a string, so no vote changes; every
table checks that all methods give the same votes.

Prints markdown tables (the "Past one machine" section of BENCHMARKS.md).

    python benchmarks/dask_scale.py [--rows 200000] [--example-rows 20000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from functools import partial
from itertools import cycle, islice
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from alchemist_runtime.sandbox import ProgramPool
from fetch import fetch
from sandbox import youtube_programs
from snorkel.labeling import LabelingFunction, PandasLFApplier
from snorkel.labeling.apply.dask import DaskLFApplier

from alchemist_compiler.apply import ApplySettings
from alchemist_compiler.engine import apply_on_dask
from alchemist_compiler.programs.build import Program, check_program, program_from_answer
from alchemist_compiler.programs.optimize import optimize
from alchemist_compiler.speedup import worth_memoizing

EXAMPLES = ["youtube", "sms", "yelp", "imdb", "medical_abstracts", "financial_phrasebank"]


def unique_texts(rows: int) -> list[str]:
    fetch("youtube")
    lines = (ROOT / "examples/youtube/data/train.jsonl").read_text("utf-8").splitlines()
    comments = cycle(json.loads(line)["text"] for line in lines)
    return [f"{text} #{i}" for i, text in enumerate(islice(comments, rows))]


def snorkel_lfs(sources: list[str]) -> list:
    """snorkel LabelingFunctions of the recorded (trusted, vetted) programs, exec'd here; a
    non-string text (dask's metadata row) abstains."""
    lfs = []
    for j, source in enumerate(sources):
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102 - trusted baseline only
        lfs.append(LabelingFunction(f"p{j}", f=partial(_text_vote, namespace["label"])))
    return lfs


def _text_vote(label, row) -> int:
    return label(row.text) if isinstance(row.text, str) else -1


def timed(run) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    votes = run()
    return time.perf_counter() - start, np.asarray(votes)


def pool_votes(sources: list[str], texts: list[str], workers: int, k: int = 2) -> np.ndarray:
    with ProgramPool(sources, k, workers=workers) as pool:
        return pool.apply(texts).votes


def snorkel_dask(sources: list[str], texts: list[str], client, partitions: int) -> np.ndarray:
    frame = dd.from_pandas(pd.DataFrame({"text": pd.Series(texts, dtype=object)}), npartitions=partitions)
    return DaskLFApplier(snorkel_lfs(sources)).apply(frame, scheduler=client)


def engines(rows: int) -> list[str]:
    from distributed import Client, LocalCluster

    sources, texts = youtube_programs(), unique_texts(rows)
    lines = ["| method | processes | rows | seconds | rows/s |", "|---|---|---|---|---|"]
    runs = {}
    for workers in (1, 2):
        runs[f"ProgramPool, local ({workers})"] = (workers, lambda w=workers: pool_votes(sources, texts, w))
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        settings = ApplySettings(2, 1.0, scheduler=cluster.scheduler_address,
                                 partition_rows=max(rows // 8, 1))
        runs["alchemist on Dask (LocalCluster 2 x 1)"] = (
            2, lambda: apply_on_dask(settings, sources, 2, texts).votes)
        runs["snorkel DaskLFApplier (same cluster)"] = (
            2, lambda: snorkel_dask(sources, texts, client, 8))
        reference = None
        for name, (processes, run) in runs.items():
            seconds, votes = timed(run)
            reference = votes if reference is None else reference
            assert np.array_equal(votes, reference), name
            lines.append(f"| {name} | {processes} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} |")
            print(lines[-1], flush=True)
    return lines


def example_programs(name: str) -> list[str]:
    answers = sorted((ROOT / "examples" / name / "answers").glob("program_*.md"))
    programs = [program_from_answer(a.read_text("utf-8"), "general", a.name, {}) for a in answers]
    return [p.source for p in programs if isinstance(p, Program)]


def train_texts(name: str) -> tuple[list[str], int]:
    """The example's train inputs and its number of classes, as its task.yaml says."""
    fetch(name)
    folder = ROOT / "examples" / name
    task = yaml.safe_load((folder / "task.yaml").read_text("utf-8"))
    path = folder / task["data"]["train"]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        texts = [json.loads(line)[task["data"]["input"]] for line in lines if line.strip()]
    return texts, len(task["classes"])


def rewritten(sources: list[str], memoize: bool) -> tuple[list[str], int]:
    out, changed = [], 0
    for source in sources:
        rewrite = optimize(source, text_input=True, memoize=memoize)
        checked = check_program(rewrite.source) if rewrite else None
        if checked is not None and not checked.violations:
            out.append(checked.source)
            changed += 1
        else:
            out.append(source)
    return out, changed


def snorkel_pandas(sources: list[str], texts: list[str]) -> np.ndarray:
    frame = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    return PandasLFApplier(snorkel_lfs(sources)).apply(frame, progress_bar=False)


def rewriting_row(name: str, rows: int) -> str:
    """One example's row: snorkel PandasLFApplier, ProgramPool(2) before and after rewriting."""
    train, k = train_texts(name)
    texts = list(islice(cycle(train), rows))
    sources = example_programs(name)
    faster, changed = rewritten(sources, worth_memoizing(train))
    snorkel_s, snorkel = timed(lambda: snorkel_pandas(sources, texts))
    before_s, before = timed(lambda: pool_votes(sources, texts, 2, k))
    after_s, after = timed(lambda: pool_votes(faster, texts, 2, k))
    assert np.array_equal(before, after) and np.array_equal(before, snorkel), name
    return (f"| {name} | {rows:,} | {len(sources)} ({changed}) | {rows / snorkel_s:,.0f} | "
            f"{rows / before_s:,.0f} | {rows / after_s:,.0f} | {before_s / after_s:.2f}x | "
            f"{snorkel_s / after_s:.1f}x |")


def rewriting(rows: int) -> list[str]:
    lines = [("| example | rows | programs (rewritten) | snorkel Pandas rows/s | ProgramPool(2) rows/s | "
              "rewritten, ProgramPool(2) rows/s | rewriting speed-up | vs snorkel |"),
             "|---|---|---|---|---|---|---|---|"]
    for name in EXAMPLES:
        lines.append(rewriting_row(name, rows))
        print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--example-rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    return "\n".join(engines(args.rows)) + "\n\n" + "\n".join(rewriting(args.example_rows))


if __name__ == "__main__":
    print(main())
