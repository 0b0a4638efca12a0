"""`alchemist baseline`: the paper's zero-shot baseline, side by side with the compiled labeler.

The task's LLM labels a seeded sample of a labeled split, one request per row (the `zero_shot.j2`
prompt, the cost ledger's estimate made real), through the same LLM stage as the compile: the
lock (so a rerun replays offline), retries, concurrency, prices. Answers are parsed tolerantly
(`parse_answer`); an answer that names no single class is counted, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, Split, load_dataset
from .errors import AlchemistError
from .llm import LLMStage, Request
from .lockfile import Lockfile
from .metrics import f1_per_class
from .modality import get_modality
from .outdir import labeler_manifest
from .prompts import zero_shot_messages
from .task import Task, load_task

SAMPLE_ROWS = 200
#: The answer is a class index: the model's most likely one, in a few tokens.
ANSWER_PARAMS = {"temperature": 0.0, "max_tokens": 16}
ABSTAIN, UNPARSEABLE = -1, -2
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?![\w])")
_DECORATION = " \t\r\n`*_\"'.:()[]{}"


@dataclass(frozen=True)
class Options:
    sample: int = SAMPLE_ROWS
    split: str | None = None  # None: test when the task has it, else valid
    seed: int = 0
    offline: bool = False
    show_progress: bool = True


def parse_answer(text: str, class_names: list[str]) -> int:
    """A class index, ABSTAIN (-1: the prompt allows it) or UNPARSEABLE.

    The whole answer (markdown and punctuation stripped) may be an index or a class name (any
    case); otherwise it must mention exactly one of them (an index in range, -1, or a name as a
    whole word): "Label: 2 (positive)" is 2, "0 or 1" is UNPARSEABLE.
    """
    names = {name.lower(): i for i, name in enumerate(class_names)}
    answer = text.strip(_DECORATION).lower()
    if answer in names:
        return names[answer]
    mentioned = {int(n) for n in _NUMBER.findall(answer) if -1 <= int(n) < len(class_names)}
    mentioned |= {i for name, i in names.items()
                  if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", answer)}
    return mentioned.pop() if len(mentioned) == 1 else UNPARSEABLE


def scores(predicted: np.ndarray, gold: np.ndarray, k: int) -> dict:
    """Accuracy and macro F1 over all rows (a row with no label, -1 or -2, is wrong); macro F1
    averages the classes present in gold or among the labels given."""
    f1 = f1_per_class(predicted, gold, k)
    present = np.isin(np.arange(k), np.concatenate([gold, predicted[predicted >= 0]]))
    return {"accuracy": round(float((predicted == gold).mean()), 6) if len(gold) else None,
            "macro_f1": round(float(f1[present].mean()), 6) if present.any() else None}


def _split(task: Task, options: Options) -> tuple[Split, Dataset]:
    """The labeled split to sample (test when the task has one, else valid), and the dataset."""
    dataset = load_dataset(task)
    name = options.split or ("test" if dataset.test is not None else "valid")
    split = getattr(dataset, name)
    if split is None:
        raise AlchemistError(f"--split {name}: the task has no data.{name} (a labeled split)")
    return split, dataset


def sample_rows(n: int, sample: int, seed: int) -> np.ndarray:
    """A seeded sample of `sample` row indices (all rows when there are fewer), in file order."""
    if sample >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))


def _labeler(out_dir: Path, task: Task):
    """The labeler compiled from this task in OUTDIR (runtime Labeler) and its manifest."""
    from alchemist_runtime.labeler import Labeler

    manifest = labeler_manifest(out_dir)
    if manifest is None:
        raise AlchemistError(f"-o {out_dir}: no labeler there (compile the task into it first)")
    if manifest.get("name") != task.name:
        raise AlchemistError(f"-o {out_dir}: its labeler is for task {manifest.get('name')!r}, "
                             f"not {task.name!r}")
    return Labeler(out_dir / "src" / task.import_name, threads=1), manifest


def _labeler_scores(labeler, manifest: dict, out_dir, values: list, gold: np.ndarray) -> dict:
    """The labeler's predictions (its distilled model) scored like the baseline's."""
    from alchemist_runtime.session import run_model

    k = len(labeler.classes)
    predicted = run_model(labeler.session, labeler.inputs, values, k).argmax(axis=1)
    return {"path": str(out_dir), "version": manifest.get("version"), **scores(predicted, gold, k),
            "compile_cost_usd": manifest.get("cost", {}).get("cost_usd")}


def run_baseline(task_path: str | Path, out_dir: str | Path | None = None,
                 options: Options = Options(), console=None) -> dict:
    """Label the sampled rows with the LLM; the comparison as a JSON-ready dict."""
    task = load_task(task_path)
    split, dataset = _split(task, options)
    train_rows = len(dataset.train)
    labeler = _labeler(Path(out_dir), task) if out_dir is not None else None
    rows = sample_rows(len(split), options.sample, options.seed)
    modality = get_modality(task.modality)
    inputs = modality.describe(task, dataset)
    spec = task.llm.model_copy(update=ANSWER_PARAMS)
    llm = LLMStage(spec, Lockfile(task.lock_path), offline=options.offline,
                   show_progress=options.show_progress, console=console)
    requests = [Request(f"zero-shot row {i} of {split.name}",
                        zero_shot_messages(task, inputs, modality.render_input(split.inputs[i], None)))
                for i in rows]
    exchanges = llm.ask_all(requests)
    k = len(task.classes)
    predicted = np.array([parse_answer(e.response, task.class_names) for e in exchanges], np.int64)
    gold = split.labels[rows]
    cost = sum(e.cost for e in exchanges)
    per_row = cost / len(rows) if len(rows) else 0.0
    result = {
        "task": task.name,
        "split": split.name,
        "rows": len(rows),
        "split_rows": len(split),
        "seed": options.seed,
        "zero_shot": {
            "model": spec.model,
            **scores(predicted, gold, k),
            "unparseable": int((predicted == UNPARSEABLE).sum()),
            "abstained": int((predicted == ABSTAIN).sum()),
            "cost_usd": round(cost, 8),
            "cost_per_row_usd": round(per_row, 10),
            "train_rows": train_rows,
            "train_cost_usd": round(per_row * train_rows, 6),
            "from_lock": len(llm.from_lock),
            "new": len(llm.fetched),
            "spent_usd": round(llm.spent_usd, 8),
        },
        "labeler": None,
    }
    if labeler is not None:
        result["labeler"] = _labeler_scores(*labeler, out_dir, [split.inputs[i] for i in rows], gold)
    return result


def print_baseline(console, result: dict) -> None:
    """The comparison as a table, and what the LLM stage did."""
    from rich.table import Table

    zs, lab = result["zero_shot"], result["labeler"]
    table = Table(title=f"zero-shot baseline on {result['rows']} of {result['split_rows']} "
                        f"{result['split']} rows (seed {result['seed']})", title_justify="left")
    for column in ("labels by", "accuracy", "macro F1", "no label", "cost"):
        table.add_column(column)
    no_label = f"{zs['unparseable']} unparseable, {zs['abstained']} abstained"
    cost = (f"${zs['cost_per_row_usd']:.6f} per row; ${zs['train_cost_usd']:.4f} for the "
            f"{zs['train_rows']} train rows")
    table.add_row(f"{zs['model']}, one request per row", _fmt(zs["accuracy"]),
                  _fmt(zs["macro_f1"]), no_label, cost)
    if lab is not None:
        compile_cost = lab["compile_cost_usd"]
        table.add_row(f"compiled labeler {lab['version'] or ''}".strip(), _fmt(lab["accuracy"]),
                      _fmt(lab["macro_f1"]), "0",
                      "-" if compile_cost is None else f"${compile_cost:.4f} once; $0 per row")
    console.print(table)
    console.print("rows with no label (unparseable or abstained) count as wrong")
    console.print(f"LLM: {zs['from_lock']} from the lock, {zs['new']} new, "
                  f"${zs['spent_usd']:.4f} spent in this run")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
