"""Past one machine: applying programs locally vs on a local Dask cluster vs snorkel's
DaskLFApplier, and the speed-up of compile-time rewriting (programs/optimize.py).

1. youtube's 10 recorded programs on N generated short texts (youtube comments, each made unique
   by a row number): ProgramPool with 1 and 2 processes, the compiler's Dask engine on a
   LocalCluster (2 workers x 1 thread, 127.0.0.1), snorkel's DaskLFApplier on the same cluster.
2. Each text example's recorded programs on its train split (cycled to R rows): ProgramPool(2)
   with the original and the rewritten programs (same votes, checked), snorkel PandasLFApplier.
Prints markdown tables (the "Past one machine" section of BENCHMARKS.md).

    python benchmarks/dask_scale.py [--rows 200000] [--example-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from alchemist_runtime.sandbox import ProgramPool
from fetch import fetch
from sandbox import youtube_programs

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
    """snorkel LabelingFunctions of the recorded (trusted, vetted) programs, exec'd here."""
    from snorkel.labeling import LabelingFunction

    lfs = []
    for j, source in enumerate(sources):
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102 - trusted baseline only
        lfs.append(LabelingFunction(f"p{j}", f=lambda row, label=namespace["label"]: label(row.text)))
    return lfs


def timed(run) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    votes = run()
    return time.perf_counter() - start, np.asarray(votes)


def pool_votes(sources: list[str], texts: list[str], workers: int, k: int = 2) -> np.ndarray:
    with ProgramPool(sources, k, workers=workers) as pool:
        return pool.apply(texts).votes


def snorkel_dask(sources: list[str], texts: list[str], client, partitions: int) -> np.ndarray:
    import dask.dataframe as dd
    import pandas as pd
    from snorkel.labeling.apply.dask import DaskLFApplier

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


def rewriting(rows: int) -> list[str]:
    from snorkel.labeling import PandasLFApplier
    import pandas as pd

    lines = ["| example | rows | programs (rewritten) | snorkel Pandas rows/s | ProgramPool(2) rows/s | "
             "rewritten, ProgramPool(2) rows/s | rewriting speed-up | vs snorkel |",
             "|---|---|---|---|---|---|---|---|"]
    for name in EXAMPLES:
        fetch(name)
        data = (ROOT / "examples" / name / "data" / "train.jsonl").read_text("utf-8").splitlines()
        texts = list(islice(cycle(json.loads(line)["text"] for line in data), rows))
        sources = example_programs(name)
        faster, changed = rewritten(sources, worth_memoizing(texts[: len(data)]))
        k = 1 + max(int(json.loads(line).get("label", 0)) for line in data[:2000])
        snorkel_s, snorkel_votes = timed(lambda: PandasLFApplier(snorkel_lfs(sources)).apply(
            pd.DataFrame({"text": pd.Series(texts, dtype=object)}), progress_bar=False))
        before_s, before = timed(lambda: pool_votes(sources, texts, 2, max(k, 2)))
        after_s, after = timed(lambda: pool_votes(faster, texts, 2, max(k, 2)))
        assert np.array_equal(before, after) and np.array_equal(before, snorkel_votes), name
        lines.append(f"| {name} | {rows:,} | {len(sources)} ({changed}) | {rows / snorkel_s:,.0f} | "
                     f"{rows / before_s:,.0f} | {rows / after_s:,.0f} | {before_s / after_s:.2f}x | "
                     f"{snorkel_s / after_s:.1f}x |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--example-rows", type=int, default=20_000)
    args = parser.parse_args()
    print("\n".join(engines(args.rows)))
    print()
    print("\n".join(rewriting(args.example_rows)))


if __name__ == "__main__":
    main()
