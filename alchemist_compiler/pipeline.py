"""The orchestrator: the only place that knows the order of the stages."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba
from alchemist_runtime.sandbox import ApplyResult
from rich.console import Console

from . import analysis, emit, generate
from .apply import ApplySettings, apply_programs, concat_columns, stop_reasons
from .cost import cost_ledger, run_spending
from .data import Dataset, Split, load_dataset
from .distill import Distilled, distill
from .errors import AlchemistError
from .features_choice import distill_features
from .generate import Attempt
from .label_model import SNORKEL_MIN_COLUMNS, fit_label_model
from .llm import LLMStage
from .lockfile import Exchange, Lockfile
from .metrics import evaluate, group_accuracy
from .modality import get_modality
from .outdir import check_output_dir, labeler_manifest, make_build_dir
from .programs.build import Program, Rejection
from .progress import Stages, make_console
from .report import final_line, print_groups, print_programs_table, print_summary
from .review import evidence, provenance
from .review.diff import diff_labelers, summary_lines
from .review.labeler import load_labeler
from .review.summary import check_summary_path, compile_summary, error_summary, write_summary
from .shown import ShownRows, shown_source
from .shown import summary_line as shown_summary_line
from .speedup import speed_up
from .task import Task, load_task

CHECK_ROWS = 500


@dataclass(frozen=True)
class Options:
    offline: bool = False
    seed: int = 0
    jobs: int = 2
    show_progress: bool = True
    quiet: bool = False  # with show_progress off, still print the final line
    summary_path: Path | None = None  # --json: where to write the machine-readable summary
    force: bool = False  # replace an OUTDIR that is not a labeler (never a protected one)
    allow_unconfined: bool = False  # run programs where the OS cannot contain them (not Linux)
    scheduler: str | None = None  # a Dask scheduler's address: overrides task.yaml's engine


@dataclass
class Candidates:
    """Every attempt so far, the accepted programs (one column each) and their votes."""

    attempts: list[Attempt] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)
    results: dict[str, ApplyResult] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # origin -> why it never ran
    repaired: set[str] = field(default_factory=set)  # origins already given a repair request
    shown: ShownRows = field(default_factory=lambda: ShownRows(None, 0))  # labeled rows the LLM saw

    def accept(self, attempts: list[Attempt]) -> list[Program]:
        """Record attempts; return the programs among them that are new (by content)."""
        new = []
        for attempt in attempts:
            self.attempts.append(attempt)
            result = attempt.result
            if isinstance(result, Rejection):
                self.rejected[attempt.origin] = "; ".join(result.reasons)
            elif any(p.name == result.name for p in self.programs + new):
                self.rejected[attempt.origin] = f"same source as {result.name}"
            else:
                new.append(result)
        self.programs += new
        return new


def _check_sample(splits: dict[str, Split]) -> Split:
    """The split whose first CHECK_ROWS rows the installed labeler must label as the compile did."""
    return splits.get("test") or splits.get("valid") or splits["train"]


def _with_weak_columns(L: np.ndarray, split: Split) -> np.ndarray:
    return L if split.weak_labels is None else np.hstack([L, split.weak_labels])


def apply_settings(task: Task, options: Options) -> ApplySettings:
    """Where and how programs run: --scheduler, else task.yaml's engine (local by default)."""
    return ApplySettings(options.jobs, task.programs.call_timeout_s, options.allow_unconfined,
                         options.scheduler or task.engine.address, task.engine.partition_rows)


def _run_new(found: Candidates, new: list[Program], splits: dict[str, Split], task: Task, options: Options) -> None:
    """Apply newly accepted programs to every split; add their columns."""
    settings = apply_settings(task, options)
    results = apply_programs(
        new, {n: s.inputs for n, s in splits.items()}, len(task.classes), settings,
        recheck=(_check_sample(splits).name, CHECK_ROWS), show_progress=options.show_progress,
    )
    for name, result in results.items():
        found.results[name] = concat_columns(found.results[name], result) if name in found.results else result


def _diagnose(task: Task, found: Candidates, splits) -> tuple[list[str], dict, list[dict]]:
    """Column names, the vote matrix of each split, and per-column stats with drop reasons
    (valid's without the rows shown to the LLM)."""
    votes = {n: _with_weak_columns(found.results[n].votes, s) for n, s in splits.items()}
    n_weak = votes["train"].shape[1] - len(found.programs)
    names = [p.name for p in found.programs] + [f"weak_{i}" for i in range(n_weak)]
    train = found.results["train"]
    chosen_splits, chosen_votes = found.shown.for_selection(splits, votes)
    stats = analysis.diagnose(
        names, votes["train"], chosen_votes.get("valid"),
        chosen_splits["valid"].labels if "valid" in chosen_splits else None,
        {"exceptions": train.exceptions, "timeouts": train.timeouts, "invalid": train.invalid},
        train.load_errors, min_coverage=task.programs.min_coverage, k=len(task.classes),
        stopped=stop_reasons(found.results),
    )
    return names, votes, stats


def _to_repair(found: Candidates, votes: dict, stats: list[dict], task: Task, dataset: Dataset):
    """LLM attempts not yet repaired that were rejected or dropped: (attempt, reason, feedback
    examples), and the rows of the labeled split (shown.shown_source) each one's feedback shows."""
    column = {p.name: j for j, p in enumerate(found.programs)}
    labeled = shown_source(dataset)
    failed, shown = [], []
    for attempt in found.attempts:
        if attempt.exchange is None or attempt.origin in found.repaired:
            continue
        reason, rows, program_votes = found.rejected.get(attempt.origin), [], None
        if reason is None:
            j = column[attempt.result.name]
            reason = stats[j]["dropped"]
            if labeled is not None:
                program_votes = votes[labeled.name][:, j]
                rows = generate.feedback_rows(program_votes, labeled.labels, len(task.classes))
        if reason is not None:
            examples = generate.feedback_examples(task, labeled, program_votes, rows)
            failed.append((attempt, reason, examples))
            shown.append(rows)
    return failed, shown


def collect_programs(task: Task, dataset: Dataset, llm: LLMStage, options: Options, console: Console,
                     stages: Stages | None = None):
    """Ask, vet, apply and diagnose programs, with repair rounds for the dropped ones."""
    stages = stages or Stages(console)
    splits = dataset.splits
    found = Candidates(shown=ShownRows.of(dataset))
    if task.programs.count:
        with stages.stage("LLM requests", spinner=False):  # new ones show a progress bar
            attempts, found.exchanges, exemplar_rows = generate.ask_for_programs(task, dataset, llm)
        found.accept(attempts)
        found.shown.add("exemplars", exemplar_rows)
    found.accept([generate.hand_written(path) for path in task.programs.include]
                 + generate.modality_programs(task, dataset))
    _report_rejections(console, found, found.attempts)
    with stages.stage("apply", spinner=False):  # shows a progress bar per split
        _run_new(found, found.programs, splits, task, options)
    names, votes, stats = _diagnose(task, found, splits)
    for round_number in range(1, task.programs.repair_rounds + 1):
        failed, shown = _to_repair(found, votes, stats, task, dataset)
        if not failed:
            break
        console.print(f"repair round {round_number}: asking again for {len(failed)} dropped program(s)")
        with stages.stage("LLM requests", spinner=False):
            attempts, exchanges = generate.ask_for_repairs(task, llm, failed, round_number)
        found.exchanges += exchanges
        found.repaired |= {attempt.origin for attempt, _, _ in failed}
        for attempt, rows in zip(attempts, shown):
            found.shown.add(attempt.origin, rows)
        _report_rejections(console, found, attempts)
        with stages.stage("apply", spinner=False):
            _run_new(found, found.accept(attempts), splits, task, options)
        names, votes, stats = _diagnose(task, found, splits)
    return found, names, votes, stats


def evaluate_splits(splits: dict[str, Split], votes: dict, kept: list[int], label_model: dict,
                    distilled: Distilled) -> list[dict]:
    """Label-model and distilled-model metrics on valid and test."""
    metrics = []
    for name in ("valid", "test"):
        if name not in splits:
            continue
        split, L = splits[name], votes[name][:, kept]
        proba = predict_proba(label_model, L)
        metrics.append({**evaluate(name, "label model", proba, split.labels, covered(L)),
                        **group_accuracy(proba, split.labels, split.groups)})
        proba = distilled.proba(split.labeler_inputs, label_model["cardinality"])
        metrics.append({**evaluate(name, "distilled", proba, split.labels, np.ones(len(split), bool)),
                        **group_accuracy(proba, split.labels, split.groups)})
    return metrics


def compile_task(task_path: str | Path, out_dir: str | Path, options: Options = Options()) -> dict:
    """Compile task.yaml into a labeler package at out_dir; returns the manifest.

    With `options.summary_path`, the summary is written there, also when the compile fails."""
    check_summary_path(options.summary_path, Path(out_dir).expanduser().resolve())
    try:
        return _compile(task_path, out_dir, options)
    except AlchemistError as err:
        if options.summary_path is not None:
            write_summary(options.summary_path, error_summary(task_path, str(err)))
        raise


def _compile(task_path: str | Path, out_dir: str | Path, options: Options) -> dict:
    console = make_console(quiet=not options.show_progress)
    stages = Stages(console)
    task = load_task(task_path)
    out_dir = check_output_dir(out_dir, task, force=options.force)
    dataset = load_dataset(task)
    for note in task.notes + dataset.notes:
        console.print(f"[yellow]note:[/] {note}")
    modality = get_modality(task.modality)
    llm = LLMStage(task.sources, Lockfile(task.lock_path), offline=options.offline,
                   show_progress=options.show_progress, console=console)
    dataset = modality.prepare(task, dataset, llm, console)  # images: concepts and scores

    found, names, votes, stats = collect_programs(task, dataset, llm, options, console, stages)
    print_programs_table(console, stats)
    kept = [j for j, s in enumerate(stats) if s["dropped"] is None]
    dropped = [f"{origin}: {reason}" for origin, reason in found.rejected.items()] + [
        f"{s['name']}: {s['dropped']}" for s in stats if s["dropped"] is not None]
    if not kept:
        raise AlchemistError("no program survived selection: " + "; ".join(dropped))

    selection = found.shown.record()
    if dataset.valid is not None:
        console.print(shown_summary_line(selection))
    chosen_splits, chosen_votes = found.shown.for_selection(dataset.splits, votes)
    chosen_valid = chosen_splits.get("valid")
    L_train = votes["train"][:, kept]
    valid_labels = chosen_valid.labels if chosen_valid is not None else None
    L_valid = chosen_votes["valid"][:, kept] if chosen_valid is not None else None
    with stages.stage("label model fit"):
        label_model = fit_label_model(task.label_model.kind, L_train, len(task.classes),
                                      valid_labels=valid_labels, seed=options.seed, L_valid=L_valid)
    choice = provenance.label_model_choice(task.label_model.kind, label_model, len(kept),
                                           SNORKEL_MIN_COLUMNS)
    soft = predict_proba(label_model, L_train)
    train_rows = np.flatnonzero(covered(L_train))
    _print_label_model(console, choice, len(train_rows) / len(L_train))
    distilled, features = distill_features(
        task, console, distill, modality.runtime(dataset.input_spec), task.distill,
        [dataset.train.labeler_inputs[i] for i in train_rows], soft[train_rows],
        seed=options.seed,
        valid_inputs=chosen_valid.labeler_inputs if chosen_valid is not None else None,
        valid_labels=valid_labels,
        stage=stages.stage,
    )
    splits = dataset.splits
    with stages.stage("evaluation"):
        metrics = evaluate_splits(chosen_splits, chosen_votes, kept, label_model, distilled)
    ledger = cost_ledger(task, [*dataset.exchanges, *found.exchanges], llm.source_of,
                         dataset.train.inputs, modality.describe(task, dataset))

    columns = [j for j in kept if j < len(found.programs)]
    movable = [j for j in columns if not _pinned(found.programs[j])]  # pinned ones run as reviewed
    faster = dict(zip(movable, speed_up(
        [found.programs[j] for j in movable], movable, {n: s.inputs for n, s in splits.items()},
        {n: r.votes for n, r in found.results.items()}, len(task.classes),
        apply_settings(task, options), modality.probe_inputs(dataset.input_spec),
        task.modality == "text")))
    kept_programs = [faster.get(j, found.programs[j]) for j in columns]
    emitted = _emitted_programs(task, kept_programs, {s["name"]: s for s in stats})
    stems = {p.name: e.file.removesuffix(".py") for p, e in zip(kept_programs, emitted)}
    manifest = {
        "name": task.name,
        "import_name": task.import_name,
        "modality": task.modality,
        "input": dataset.input_spec,
        "featurizer": distilled.needs,
        "classes": task.class_names,
        "call_timeout_s": task.programs.call_timeout_s,
        "seed": options.seed,
        "programs": [{"file": p.file, "strategy": p.strategy, "pinned": _pinned(program),
                      "source": program.provenance.get("source")}
                     for p, program in zip(emitted, kept_programs)],
        "label_model_columns": [stems.get(names[j], names[j]) for j in kept],
        "label_model": label_model["kind"],
        "label_model_choice": choice,
        "diagnostics": stats,
        "dropped": dropped,
        "selection_data": selection,
        "metrics": metrics,
        "evidence": {
            "class_balance": evidence.class_balance(soft[train_rows].argmax(axis=1), valid_labels,
                                                    len(task.classes)),
            "program_pairs": evidence.program_pairs(L_train),
        },
        "cost": ledger,
        "distill": {**features, "hidden": task.distill.hidden,
                    "seeds": task.distill.seeds,
                    "best_epochs": [m.best_epoch for m in distilled.members],
                    "parity_max_abs_error": distilled.parity_error},
        "sources_sha256": provenance.source_hashes(task),
        "versions": provenance.library_versions(),
    }
    readme = {"label_model_kind": label_model["kind"], "metrics": metrics, "cost": ledger,
              "dropped": generate.dropped_for_review(found.attempts, found.rejected, stats),
              "inputs": modality.runtime(dataset.input_spec), "choice": choice,
              "selection": shown_summary_line(selection),
              "pinned": [e.file for e, p in zip(emitted, kept_programs) if _pinned(p)],
              "weights": evidence.label_model_accuracies(label_model), "per_class": evidence.per_class}
    sample = _check_sample(splits)
    check_votes = votes[sample.name][:CHECK_ROWS, kept].copy()
    check_votes[:, len(emitted):] = -1  # precomputed weak labels are not available offline
    check = (sample.labeler_inputs[:CHECK_ROWS], check_votes)
    wheel, changes = _emit(task, out_dir, emitted, label_model, distilled, manifest, readme, check,
                           force=options.force, stages=stages)
    print_summary(console, metrics, ledger, run_spending(llm))
    print_groups(console, metrics)
    for line in summary_lines(changes) if changes else []:
        console.print(line)
    make_console(quiet=not (options.show_progress or options.quiet)).print(final_line(out_dir, wheel))
    if options.summary_path is not None:
        written = json.loads((out_dir / "src" / task.import_name / "manifest.json").read_text("utf-8"))
        write_summary(options.summary_path, compile_summary(
            task_path, out_dir, wheel, written, found.rejected, run_spending(llm),
            {**stages.timings, "total": stages.elapsed()}, changes))
    return manifest


def _print_label_model(console: Console, choice: dict, train_coverage: float) -> None:
    """Why the kind was chosen, when it is not simply the one asked for; then kind and coverage."""
    if choice["kind"] != choice["requested"]:
        console.print(choice["reason"], style=None if choice["requested"] == "auto" else "yellow")
    console.print(f"label model: {choice['kind']}, train coverage {train_coverage:.3f}")


def _emit(task, out_dir: Path, emitted, label_model, distilled: Distilled, manifest, readme, check, *,
          force: bool, stages: Stages) -> tuple[str, dict | None]:
    """Build the package beside out_dir, check the installed wheel, then move it into place
    (OUTDIR is checked again: the user may have put files there during the compile).

    Returns the wheel's file name and, when OUTDIR held this task's labeler, the diff from it."""
    previous = labeler_manifest(out_dir)
    if previous is not None and previous.get("name") != task.name:
        previous = None  # another task's labeler: this one starts its own versions
    build_root = make_build_dir(out_dir)
    try:
        with stages.stage("writing the package"):
            emit.write_package(build_root, task, emitted, label_model, distilled.model, manifest,
                               readme, previous=previous)
        with stages.stage("wheel build"):
            wheel = emit.build_wheel(build_root)
        with stages.stage("installed check"):
            inputs, votes = check
            expected = distilled.proba(inputs, len(task.classes))
            emit.check_installed_labeler(wheel, task, inputs, expected, votes)
        changes = None
        if previous is not None:
            changes = diff_labelers(replace(load_labeler(out_dir), source=f"{out_dir} (previous)"),
                                    replace(load_labeler(build_root), source=str(out_dir)))
        emit.replace_directory(build_root, check_output_dir(out_dir, task, force=force))
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    return wheel.name, changes


def _report_rejections(console: Console, found: Candidates, attempts: list[Attempt]) -> None:
    for attempt in attempts:
        if attempt.origin in found.rejected:
            console.print(f"[yellow]rejected[/] {attempt.origin}: {found.rejected[attempt.origin]}")


def _emitted_programs(task: Task, programs: list[Program], stats: dict) -> list[emit.EmittedProgram]:
    emitted = []
    for index, program in enumerate(programs, start=1):
        s = stats[program.name]
        lines = _provenance_lines(program, s)
        file, text = emit.program_file(task, index, program.name, program.source, lines)
        emitted.append(emit.EmittedProgram(file, program.strategy, text, s))
    return emitted


def _writer(provenance: dict) -> str:
    """The LLM source that wrote a program: its model, or its name and model."""
    source, model = provenance["source"], provenance["model"]
    return model if source == model else f"{source} ({model})"


def _pinned(program: Program) -> bool:
    return program.provenance.get("origin") == "pinned"


def _provenance_lines(program: Program, s: dict) -> list[str]:
    p = program.provenance
    if p.get("origin") == "llm":  # pins.WRITTEN reads the first line back
        origin = [
            (f"Written by {_writer(p)} as program {p['program']} (strategy: {program.strategy}); "
             f"request sha256 {p['request_sha256'][:16]}."),
            f"Tokens: {p['prompt_tokens']} prompt + {p['completion_tokens']} completion; cost ${p['cost_usd']:.6f}.",
        ]
    elif _pinned(program):
        origin = [f"Pinned (programs.pin: {p['file']}): kept as reviewed; its slot asks the LLM nothing.",
                  p["written"]]
    else:
        origin = [f"Hand-written: {p['origin']}."]
    changed = [f"Changed by Alchemist: {'; '.join(program.changes)}."] if program.changes else []
    accuracy = "n/a" if s["valid_accuracy"] is None else f"{s['valid_accuracy']:.3f} on {s['valid_votes']} votes"
    return origin + changed + [f"Train coverage {s['coverage']:.3f}; valid accuracy {accuracy}."]
