"""The sandbox's cost: youtube's 10 recorded programs applied to many short texts, four ways.

In-process (the programs exec'd into this process: the no-isolation baseline, fine here because
these programs are the recorded, vetted ones), `ProgramPool` now (one OS-contained process per
program), `ProgramPool` before OS containment (the Python-level sandbox of commit BEFORE_OS,
several programs per worker, taken from git), and snorkel's PandasLFApplier. Every way must
produce the same votes. Targets: sandboxed >= 50% of in-process; now >= 0.8x of before.
Then the compile time of a task that includes every hostile program in tests/hostile_programs.

    python benchmarks/sandbox.py [--rows 100000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
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
BEFORE_OS = "92d420b"  # the last commit with the Python-level sandbox (several programs per worker)
HOSTILE = ROOT / "tests" / "hostile_programs"


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


def sandboxed(workers: int, pool_class=ProgramPool) -> Callable[[list[str], list[str]], np.ndarray]:
    def run(sources: list[str], texts: list[str]) -> np.ndarray:
        with pool_class(sources, N_CLASSES, workers=workers) as pool:
            return pool.apply(texts).votes

    return run


def pool_before_os(folder: Path):
    """ProgramPool as of commit BEFORE_OS, loaded from git into `folder`."""
    for name in ("sandbox.py", "_sandbox_worker.py"):
        source = subprocess.run(["git", "show", f"{BEFORE_OS}:runtime/{name}"], cwd=ROOT,
                                capture_output=True, check=True).stdout
        (folder / name).write_bytes(source)
    spec = importlib.util.spec_from_file_location("sandbox_before_os", folder / "sandbox.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.ProgramPool


def hostile_compile_seconds() -> tuple[int, float]:
    """Programs in the hostile corpus, and the seconds a compile that includes them all takes."""
    from alchemist_compiler.pipeline import Options, compile_task

    files = sorted(HOSTILE.glob("*.py")) + sorted((HOSTILE / "runtime").glob("*.py"))
    texts = ["love this song", "subscribe to my channel", "great video", "free money http://x",
             "très bien", "check out www.win.com"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "programs").mkdir()
        for path in files:
            (root / "programs" / path.name).write_text(path.read_text("utf-8"), encoding="utf-8")
        rows = [{"text": t, "label": int(i % 2)} for i, t in enumerate(texts)]
        (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        task = {
            "name": "hostile", "description": "Spam or not.", "modality": "text",
            "classes": ["ham", "spam"],
            "data": {"train": "train.jsonl", "test": "train.jsonl", "input": "text", "label": "label"},
            "llm": {"model": "none"},
            "programs": {"count": 0, "include": [f"programs/{p.name}" for p in files],
                         "min_coverage": 0.0, "call_timeout_s": 0.1},
            "distill": {"seeds": 1, "epochs": 3},
        }
        (root / "task.yaml").write_text(json.dumps(task))
        started = time.perf_counter()
        compile_task(root / "task.yaml", root / "out", Options(offline=True, show_progress=False))
        return len(files), time.perf_counter() - started


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
    with tempfile.TemporaryDirectory() as tmp:
        before = pool_before_os(Path(tmp))
        methods = [("in-process (no isolation)", "1", in_process)]
        for w in workers:
            methods += [(f"ProgramPool before OS containment ({BEFORE_OS})", str(w),
                         sandboxed(w, before)),
                        ("ProgramPool (one contained process per program)", str(w), sandboxed(w))]
        methods.append(("snorkel PandasLFApplier", "1", snorkel_pandas))
        lines = [
            (f"{rows:,} short texts x {len(sources)} programs; {os.cpu_count()} CPUs; "
             "total time, worker start included. Workers: processes running at once."),
            "",
            "| method | workers | seconds | rows/s | vs in-process | now vs before |",
            "|---|---|---|---|---|---|",
        ]
        reference = baseline_rate = previous_rate = None
        for name, processes, method in methods:
            seconds, votes = timed(method, sources, texts)
            if reference is None:
                reference, baseline_rate = votes, rows / seconds
            assert np.array_equal(votes, reference), f"{name} votes differ from in-process"
            rate = rows / seconds
            versus = f"{rate / previous_rate:.2f}" if name.startswith("ProgramPool (one") else ""
            previous_rate = rate
            lines.append(f"| {name} | {processes} | {seconds:.2f} | {rate:,.0f} | "
                         f"{rate / baseline_rate:.2f} | {versus} |")
    programs, seconds = hostile_compile_seconds()
    lines += ["", "| hostile corpus compile | value |", "|---|---|",
              f"| programs included (tests/hostile_programs) | {programs} |",
              f"| compile time (call timeout 0.1 s, 6 rows; wheel and installed check included) "
              f"| {seconds:.1f} s |"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(main(args.rows, tuple(args.workers)))
