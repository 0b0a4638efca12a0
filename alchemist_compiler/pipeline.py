"""The orchestrator: the only place that knows the order of the stages."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from alchemist_runtime.label_model import covered, predict_proba

from . import analysis, emit, prompts
from .apply import apply_programs
from .cost import cost_ledger
from .data import Dataset, Split, load_dataset
from .distill import distill, features_of
from .label_model import SNORKEL_MIN_COLUMNS, fit_label_model
from .llm import LLMStage, Request
from .lockfile import Exchange, Lockfile
from .metrics import evaluate
from .modality import get_modality
from .programs.build import Program, Rejection, program_from_answer, program_from_file
from .report import print_programs_table, print_summary
from .task import Task, load_task

CHECK_ROWS = 500


@dataclass(frozen=True)
class Options:
    offline: bool = False
    seed: int = 0
    jobs: int = 2
    show_progress: bool = True


@dataclass
class Candidates:
    """Programs to run, with their LLM exchanges, and what was rejected before running."""

    programs: list[Program] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def ask_for_programs(task: Task, dataset: Dataset, llm: LLMStage) -> Candidates:
    """Two-stage prompting: missing supplementary text first, then one request per slot."""
    slots = prompts.plan_slots(task)
    supplementary = dict(task.programs.supplementary)
    to_ask = sorted({s.strategy for s in slots} & set(prompts.ASKED_OF_LLM) - set(supplementary))
    first = llm.ask_all(
        [Request(f"supplementary {s}", prompts.supplementary_request(task, s)) for s in to_ask]
    )
    supplementary |= {s: e.response for s, e in zip(to_ask, first)}
    if "exemplars" not in supplementary and dataset.valid is not None:
        supplementary["exemplars"] = prompts.exemplars_text(
            task, dataset.valid, task.programs.exemplars_per_class
        )
    requests = [
        Request(f"program {s.index + 1} ({s.strategy})",
                prompts.program_request(task, s, supplementary.get(s.strategy)))
        for s in slots
    ]
    answers = llm.ask_all(requests)
    found = Candidates(exchanges=list(first) + answers)
    for slot, exchange in zip(slots, answers):
        provenance = {
            "origin": "llm",
            "model": exchange.model,
            "request_sha256": exchange.request_hash,
            "prompt_tokens": exchange.usage["prompt_tokens"],
            "completion_tokens": exchange.usage["completion_tokens"],
            "cost_usd": exchange.cost,
        }
        _add(found, program_from_answer(exchange.response, slot.strategy,
                                        f"program {slot.index + 1} ({slot.strategy})", provenance))
    return found


def _add(found: Candidates, result: Program | Rejection) -> None:
    if isinstance(result, Rejection):
        found.rejected.append(str(result))
    elif any(p.name == result.name for p in found.programs):
        found.rejected.append(f"{result.name}: same source as an earlier program")
    else:
        found.programs.append(result)


def _splits(dataset: Dataset) -> dict[str, Split]:
    return {s.name: s for s in (dataset.train, dataset.valid, dataset.test) if s is not None}


def _with_weak_columns(L: np.ndarray, split: Split) -> np.ndarray:
    return L if split.weak_labels is None else np.hstack([L, split.weak_labels])


def select_columns(task, dataset, names, votes, apply_results, console) -> tuple[list[int], list[dict], list[str]]:
    """Diagnostics for every column of the train matrix; indices of the kept ones."""
    k = len(task.classes)
    L = votes["train"]
    kept, stats, dropped = [], [], []
    for j, name in enumerate(names):
        train_stats = analysis.column_stats(L, j)
        accuracy, n_votes = (None, 0)
        if dataset.valid is not None:
            accuracy, n_votes = analysis.accuracy_where_voted(votes["valid"][:, j], dataset.valid.labels)
        counts = apply_results["train"]
        is_program = j < len(counts.exceptions)
        s = analysis.ProgramStats(
            **train_stats,
            exceptions=int(counts.exceptions[j]) if is_program else 0,
            timeouts=int(counts.timeouts[j]) if is_program else 0,
            invalid=int(counts.invalid[j]) if is_program else 0,
            valid_accuracy=accuracy,
            valid_votes=n_votes,
        )
        reason = analysis.keep_reason(s, task.programs.min_coverage, k)
        duplicate = analysis.duplicate_of(L, j)
        if reason is None and duplicate is not None and duplicate in kept:
            reason = f"same train votes as {names[duplicate]}"
        if is_program and counts.load_errors[j]:
            reason = f"failed to load: {counts.load_errors[j]}"
        stats.append({"name": name, **s.as_dict(), "dropped": reason})
        if reason is None:
            kept.append(j)
        else:
            dropped.append(f"{name}: {reason}")
    return kept, stats, dropped


def compile_task(task_path: str | Path, out_dir: str | Path, options: Options = Options()) -> dict:
    """Compile task.yaml into a labeler package at out_dir; returns the manifest."""
    console = Console(stderr=True, quiet=not options.show_progress)
    task = load_task(task_path)
    dataset = load_dataset(task)
    modality = get_modality(task.modality)
    k = len(task.classes)
    out_dir = Path(out_dir).resolve()

    lock = Lockfile(task.lock_path)
    llm = LLMStage(task.llm, lock, offline=options.offline)
    found = ask_for_programs(task, dataset, llm) if task.programs.count else Candidates()
    for path in task.programs.include:
        _add(found, program_from_file(path))
    for reason in found.rejected:
        console.print(f"[yellow]rejected[/] {reason}")
    console.print(f"{len(found.programs)} programs vetted ({len(found.rejected)} rejected)")

    splits = _splits(dataset)
    results = apply_programs(
        found.programs, {n: s.inputs for n, s in splits.items()}, k, jobs=options.jobs,
        call_timeout=task.programs.call_timeout_s, show_progress=options.show_progress,
    )
    votes = {n: _with_weak_columns(results[n].votes, s) for n, s in splits.items()}
    n_weak = votes["train"].shape[1] - len(found.programs)
    names = [p.name for p in found.programs] + [f"weak_{i}" for i in range(n_weak)]
    kept, stats, dropped = select_columns(task, dataset, names, votes, results, console)
    print_programs_table(console, stats)
    if not kept:
        raise_no_programs(dropped)

    L_train = votes["train"][:, kept]
    valid_labels = dataset.valid.labels if dataset.valid is not None else None
    label_model = fit_label_model(task.label_model.kind, L_train, k, valid_labels=valid_labels,
                                  seed=options.seed)
    if label_model["kind"] != task.label_model.kind:
        console.print(f"[yellow]{len(kept)} columns: {task.label_model.kind} needs "
                      f"{SNORKEL_MIN_COLUMNS}, using {label_model['kind']}[/]")
    soft = predict_proba(label_model, L_train)
    train_rows = np.flatnonzero(covered(L_train))
    console.print(f"label model: {label_model['kind']}, train coverage {len(train_rows) / len(L_train):.3f}")
    distilled = distill(
        modality, task.distill, [dataset.train.inputs[i] for i in train_rows], soft[train_rows],
        seed=options.seed,
        valid_inputs=dataset.valid.inputs if dataset.valid is not None else None,
        valid_labels=valid_labels,
    )

    metrics = []
    for name in ("valid", "test"):
        split = splits.get(name)
        if split is None:
            continue
        L = votes[name][:, kept]
        metrics.append(evaluate(name, "label model", predict_proba(label_model, L), split.labels, covered(L)))
        proba = _onnx_proba(distilled.model, modality, split.inputs)
        metrics.append(evaluate(name, "distilled", proba, split.labels, np.ones(len(split), bool)))

    ledger = cost_ledger(task, found.exchanges, dataset.train.inputs)
    kept_programs = [found.programs[j] for j in kept if j < len(found.programs)]
    emitted = _emitted_programs(task, kept_programs, {s["name"]: s for s in stats})
    stems = {p.name: e.file.removesuffix(".py") for p, e in zip(kept_programs, emitted)}
    manifest = {
        "name": task.name,
        "import_name": task.import_name,
        "modality": task.modality,
        "classes": task.class_names,
        "input_column": task.data.input,
        "call_timeout_s": task.programs.call_timeout_s,
        "seed": options.seed,
        "programs": [{"file": p.file, "strategy": p.strategy} for p in emitted],
        "label_model_columns": [stems.get(names[j], names[j]) for j in kept],
        "label_model": label_model["kind"],
        "diagnostics": stats,
        "dropped": found.rejected + dropped,
        "metrics": metrics,
        "cost": ledger,
        "distill": {"features": task.distill.features, "hidden": task.distill.hidden,
                    "seeds": task.distill.seeds,
                    "best_epochs": [m.best_epoch for m in distilled.members],
                    "parity_max_abs_error": distilled.parity_error},
        "versions": _versions(),
    }

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build_root = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        emit.write_package(build_root, task, emitted, label_model, distilled.model, manifest,
                           {"label_model_kind": label_model["kind"], "metrics": metrics,
                            "cost": ledger, "dropped": found.rejected + dropped,
                            "input_column": task.data.input})
        wheel = emit.build_wheel(build_root)
        sample = _check_sample(splits)
        check_votes = votes[sample.name][:CHECK_ROWS, kept].copy()
        check_votes[:, len(emitted):] = -1  # precomputed weak labels are not available offline
        emit.check_installed_labeler(
            wheel, task, sample.inputs[:CHECK_ROWS],
            _onnx_proba(distilled.model, modality, sample.inputs[:CHECK_ROWS]), check_votes,
        )
        emit.replace_directory(build_root, out_dir)
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    print_summary(console, metrics, ledger, out_dir, wheel.name)
    return manifest


def raise_no_programs(dropped: list[str]) -> None:
    from .errors import AlchemistError

    raise AlchemistError("no program survived selection: " + "; ".join(dropped))


def _check_sample(splits: dict[str, Split]) -> Split:
    return splits.get("test") or splits.get("valid") or splits["train"]


def _onnx_proba(model, modality, inputs: list) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    parts = [session.run(["probabilities"], {"input": modality.model_input(inputs[i : i + 1024])})[0]
             for i in range(0, len(inputs), 1024)]
    return np.concatenate(parts)


def _emitted_programs(task: Task, programs: list[Program], stats: dict) -> list[emit.EmittedProgram]:
    emitted = []
    for index, program in enumerate(programs, start=1):
        s = stats[program.name]
        lines = _provenance_lines(program, s)
        file, text = emit.program_file(task, index, program.name, program.source, lines)
        emitted.append(emit.EmittedProgram(file, program.strategy, text, s))
    return emitted


def _provenance_lines(program: Program, s: dict) -> list[str]:
    p = program.provenance
    if p.get("origin") == "llm":
        origin = [
            f"Written by {p['model']} (strategy: {program.strategy}); request sha256 {p['request_sha256'][:16]}.",
            f"Tokens: {p['prompt_tokens']} prompt + {p['completion_tokens']} completion; cost ${p['cost_usd']:.6f}.",
        ]
    else:
        origin = [f"Hand-written: {p['origin']}."]
    accuracy = "n/a" if s["valid_accuracy"] is None else f"{s['valid_accuracy']:.3f} on {s['valid_votes']} votes"
    return origin + [f"Train coverage {s['coverage']:.3f}; valid accuracy {accuracy}."]


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("alchemist-compiler", "onnx", "onnxruntime", "snorkel", "torch")}
