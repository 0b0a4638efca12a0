"""Label models compared: every kind on real human label matrices, and at scale.

    python benchmarks/label_models.py [--quick]

Real data: the WRENCH-style human programs (`weak_labels`) of youtube and sms, and the kept
generated programs of the six text examples (their recorded locks). Each kind is fitted on train,
with valid (without the rows shown to the LLM, as a compile) for class balance / accuracies,
and scored on TEST (accuracy on all rows and on covered rows, spam F1 likewise for
youtube and sms; an uncovered row gets the kind's all-abstain answer). Reference (ALCHEmist
paper, human programs, Snorkel, distilled): youtube 0.85, sms 0.89. `auto` has no row: it judges
each kind by the model distilled from its labels (alchemist_compiler.choices), which
`python benchmarks/features.py --targets --label-model auto` measures.

Scale: a synthetic 1,000,000 x 50 int8 matrix with 10 classes (--quick: 100,000 rows) plus a
10,000-row labeled valid matrix; each kind is fitted and then predicts every row, in its own
subprocess, whose peak resident memory (VmHWM, interpreter and imports included) is reported.
`main()` returns the markdown text (and prints it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba

from alchemist_compiler.label_model import FITTERS, fit_label_model

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("youtube", "sms")  # binary, class 1 = spam
GENERATED = (*DATASETS, "yelp", "imdb", "medical_abstracts", "financial_phrasebank")
SCALE_ROWS, QUICK_ROWS, SCALE_COLUMNS, SCALE_CLASSES, SCALE_VALID_ROWS = (
    1_000_000,
    100_000,
    50,
    10,
    10_000,
)


def main(argv: list[str] | None = None) -> str:
    args = _parser().parse_args(argv)
    if args.scale_kind:
        print(json.dumps(measure_scale(args.scale_kind, args.rows)))
        return ""
    rows = QUICK_ROWS if args.quick else SCALE_ROWS
    text = "\n\n".join([real_data_table(), scale_table(rows)])
    print(text)
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"scale row on {QUICK_ROWS:,} rows")
    parser.add_argument("--scale-kind", help=argparse.SUPPRESS)  # one measurement, in a subprocess
    parser.add_argument("--rows", type=int, default=SCALE_ROWS, help=argparse.SUPPRESS)
    return parser


# -- real data -------------------------------------------------------------------------------
def real_data_table() -> str:
    lines = [
        "### Label models on human programs (test split)",
        "",
        "| dataset | kind | chosen | test acc | acc covered | spam F1 | F1 covered | coverage | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in DATASETS:
        splits = {split: _human_split(name, split) for split in ("train", "valid", "test")}
        lines += [_real_row(name, kind, splits, 2) for kind in FITTERS]
    lines += [
        "",
        "Paper (human programs, Snorkel, distilled model): youtube 0.85 accuracy, sms 0.89 F1.",
        "",
        "### Label models on the examples' generated programs (kept ones; test split)",
        "",
        lines[2],
        lines[3],
    ]
    for name in GENERATED:
        splits, k = _generated_splits(name)
        lines += [_real_row(name, kind, splits, k) for kind in FITTERS]
    return "\n".join(lines)


def _generated_splits(name: str) -> tuple[dict, int]:
    """Votes of the example's kept programs (its recorded lock) and gold labels, with valid as a
    compile sees it (without the rows shown to the LLM); and the number of classes."""
    from rich.console import Console

    from alchemist_compiler.data import load_dataset
    from alchemist_compiler.llm import LLMStage
    from alchemist_compiler.lockfile import Lockfile
    from alchemist_compiler.pipeline import Options, collect_programs
    from alchemist_compiler.task import load_task

    _fetch(name)
    task = load_task(ROOT / "examples" / name / "task.yaml")
    dataset = load_dataset(task)
    llm = LLMStage(task.sources, Lockfile(task.lock_path), offline=True)
    options = Options(offline=True, show_progress=False)
    found, _, votes, stats = collect_programs(task, dataset, llm, options, Console(quiet=True))
    splits, votes = found.shown.for_selection(dataset.splits, votes)
    kept = [j for j, s in enumerate(stats) if s.kept]
    gold = {"train": None, "valid": splits["valid"].labels, "test": splits["test"].labels}
    return {split: (votes[split][:, kept], gold[split]) for split in gold}, len(task.classes)


def _real_row(name: str, kind: str, splits: dict, k: int) -> str:
    """One kind's row; spam F1 only for youtube and sms (class 1 = spam), else "-"."""
    (L, _), (L_valid, y_valid), (L_test, y_test) = splits["train"], splits["valid"], splits["test"]
    start = time.perf_counter()
    params = fit_label_model(kind, L, k, valid_labels=y_valid, seed=0, L_valid=L_valid)
    fit_s = time.perf_counter() - start
    predicted = predict_proba(params, L_test).argmax(axis=1)
    rows = covered(L_test)
    f1 = (f"{_f1(predicted, y_test):.3f} | {_f1(predicted[rows], y_test[rows]):.3f}"
          if name in DATASETS else "- | -")
    return (
        f"| {name} | {kind} | {params['kind']} | {(predicted == y_test).mean():.3f} "
        f"| {(predicted == y_test)[rows].mean():.3f} | {f1} | {rows.mean():.3f} | {fit_s:.2f} |"
    )


def _fetch(name: str) -> None:
    """The example's data, copied from ../shared or downloaded (examples/fetch.py)."""
    sys.path.insert(0, str(ROOT / "examples"))
    from fetch import fetch

    fetch(name)


def _human_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    _fetch(name)
    lines = (ROOT / "examples" / name / "data" / f"{split}.jsonl").read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return (
        np.asarray([r["weak_labels"] for r in rows], dtype=np.int8),
        np.asarray([r["label"] for r in rows]),
    )


def _f1(predicted: np.ndarray, gold: np.ndarray, positive: int = 1) -> float:
    true_positive = ((predicted == positive) & (gold == positive)).sum()
    return 2.0 * true_positive / max((predicted == positive).sum() + (gold == positive).sum(), 1)


# -- scale -----------------------------------------------------------------------------------
def scale_table(rows: int) -> str:
    shape = f"{rows:,} x {SCALE_COLUMNS} int8 votes, {SCALE_CLASSES} classes"
    lines = [
        f"### Label models at scale: {shape}",
        "",
        "| kind | chosen | fit s | predict s | fit + predict s | peak MB | acc covered |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in FITTERS:
        command = [sys.executable, __file__, "--scale-kind", kind, "--rows", str(rows)]
        result = json.loads(
            subprocess.run(command, check=True, capture_output=True, text=True).stdout
        )
        lines.append(
            f"| {kind} | {result['chosen']} | {result['fit_s']:.1f} | {result['predict_s']:.1f} "
            f"| {result['fit_s'] + result['predict_s']:.1f} | {result['peak_mb']:.0f} "
            f"| {result['accuracy']:.3f} |"
        )
    lines += [
        "",
        "Peak MB: the subprocess's peak resident memory (interpreter, imports and the int8",
        "matrix included). Fitters see a seeded sample of at most 100,000 rows.",
    ]
    return "\n".join(lines)


def measure_scale(kind: str, rows: int) -> dict:
    """Fit and predict one kind on the synthetic matrix (run in a fresh process)."""
    L, y = synthetic_votes(rows, seed=0)
    L_valid, y_valid = synthetic_votes(SCALE_VALID_ROWS, seed=1)
    start = time.perf_counter()
    params = fit_label_model(kind, L, SCALE_CLASSES, valid_labels=y_valid, seed=0, L_valid=L_valid)
    fitted = time.perf_counter()
    predicted = predict_proba(params, L).argmax(axis=1)
    predict_s = time.perf_counter() - fitted
    voted = covered(L)
    return {
        "chosen": params["kind"],
        "fit_s": fitted - start,
        "predict_s": predict_s,
        "peak_mb": peak_resident_mb(),
        "accuracy": float((predicted == y)[voted].mean()),
    }


def peak_resident_mb() -> float:
    """This process's peak resident memory: VmHWM, which (unlike ru_maxrss) does not inherit the
    parent's high-water mark across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_votes(rows: int, seed: int, chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Conditionally independent programs (the same 50 for every seed): a skewed class balance,
    coverage 2-20%, accuracy 30-80% (chance is 10%), wrong votes uniform over the other classes."""
    k, m = SCALE_CLASSES, SCALE_COLUMNS
    programs = np.random.default_rng(12345)
    balance = programs.dirichlet(np.full(k, 5.0))
    coverage = programs.uniform(0.02, 0.2, m).astype(np.float32)
    accuracy = programs.uniform(0.3, 0.8, m).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=rows, p=balance).astype(np.int8)
    L = np.empty((rows, m), dtype=np.int8)
    for start in range(0, rows, chunk):
        gold = y[start : start + chunk, None]
        votes = rng.random((len(gold), m), dtype=np.float32) < coverage
        right = rng.random((len(gold), m), dtype=np.float32) < accuracy
        wrong = (gold + rng.integers(1, k, (len(gold), m), dtype=np.int8)) % k
        L[start : start + chunk] = np.where(votes, np.where(right, gold, wrong), -1)
    return L, y


if __name__ == "__main__":
    main()
