"""The orchestrator: the only place that knows the order of the stages."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba
from rich.console import Console

from . import analysis, emit, generate
from .analysis import ProgramStats
from .apply import ApplySettings, apply_programs, concat_columns, stop_reasons
from .choices import DistillJob, distill_features, distilled_judge, judge_featurizer
from .cost import cost_ledger, run_spending
from .data import Dataset, Split, load_dataset
from .distill import Distilled
from .engine import check_scheduler
from .errors import AlchemistError
from .generate import Attempt
from .label_model import SNORKEL_MIN_COLUMNS, Judge, fit_label_model
from .llm import LLMStage
from .lockfile import Lockfile
from .manifest import Manifest, ProgramEntry
from .metrics import evaluate_splits
from .modality import get_modality
from .outdir import check_output_dir, labeler_manifest, make_build_dir
from .programs.build import Program
from .progress import Stages, make_console
from .report import final_line, print_groups, print_programs_table, print_summary
from .review import evidence, provenance
from .review.diff import diff_labelers, summary_lines
from .review.labeler import load_labeler
from .review.summary import check_summary_path, compile_summary, error_summary, write_summary
from .shown import ShownRows
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


def _check_sample(splits: dict[str, Split]) -> Split:
    """The split whose first CHECK_ROWS rows the installed labeler must label as the compile did."""
    return splits.get("test") or splits.get("valid") or splits["train"]


def _with_weak_columns(L: np.ndarray, split: Split) -> np.ndarray:
    return L if split.weak_labels is None else np.hstack([L, split.weak_labels])


def apply_settings(task: Task, options: Options) -> ApplySettings:
    """Where and how programs run: --scheduler, else task.yaml's engine (local by default)."""
    return ApplySettings(options.jobs, task.programs.call_timeout_s, options.allow_unconfined,
                         options.scheduler or task.engine.address, task.engine.partition_rows,
                         task.data.chunk_rows)


def _run_new(found: generate.Candidates, new: list[Program], splits: dict[str, Split], task: Task, options: Options) -> None:
    """Apply newly accepted programs to every split; add their columns."""
    settings = apply_settings(task, options)
    results = apply_programs(
        new, {n: s.inputs for n, s in splits.items()}, len(task.classes), settings,
        recheck=(_check_sample(splits).name, CHECK_ROWS), show_progress=options.show_progress,
    )
    for name, result in results.items():
        found.results[name] = concat_columns(found.results[name], result) if name in found.results else result


def _diagnose(task: Task, found: generate.Candidates, splits) -> tuple[list[str], dict, list[ProgramStats]]:
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


def collect_programs(task: Task, dataset: Dataset, llm: LLMStage, options: Options, console: Console,
                     stages: Stages | None = None):
    """Ask, vet, apply and diagnose programs, with repair rounds for the dropped ones."""
    stages = stages or Stages(console)
    splits = dataset.splits
    found = generate.Candidates(ShownRows.of(dataset))
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
        repairs = found.to_repair(votes, stats, task, dataset)
        if not repairs:
            break
        console.print(f"repair round {round_number}: asking again for {len(repairs)} dropped program(s)")
        with stages.stage("LLM requests", spinner=False):
            attempts, exchanges = generate.ask_for_repairs(task, llm, repairs, round_number)
        new = found.record_repairs(repairs, attempts, exchanges)
        _report_rejections(console, found, attempts)
        with stages.stage("apply", spinner=False):
            _run_new(found, new, splits, task, options)
        names, votes, stats = _diagnose(task, found, splits)
    return found, names, votes, stats


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
    scheduler = apply_settings(task, options).scheduler
    if scheduler is not None:
        check_scheduler(scheduler)  # before any paid request
    llm = LLMStage(task.sources, Lockfile(task.lock_path), offline=options.offline,
                   show_progress=options.show_progress, console=console)
    dataset = modality.prepare(task, dataset, llm, console)  # images: concepts and scores

    found, names, votes, stats = collect_programs(task, dataset, llm, options, console, stages)
    print_programs_table(console, stats)
    kept, dropped = _selected(found, stats)
    selection = found.shown.record()
    if dataset.valid is not None:
        console.print(shown_summary_line(selection))
    chosen_splits, chosen_votes = found.shown.for_selection(dataset.splits, votes)
    chosen_valid = chosen_splits.get("valid")
    fit, distilled, features = _label_and_distill(
        task, dataset, votes["train"][:, kept], chosen_valid,
        chosen_votes["valid"][:, kept] if chosen_valid else None, options, console, stages)
    with stages.stage("evaluation"):
        metrics = evaluate_splits(chosen_splits, chosen_votes, kept, fit.label_model, distilled)
    ledger = cost_ledger(task, [*dataset.exchanges, *found.exchanges], llm.source_of,
                         dataset.train.inputs, modality.describe(task, dataset))
    emitted = emit.emitted_programs(task, _faster_programs(task, found, kept, dataset, options), stats)
    manifest = Manifest(
        name=task.name,
        import_name=task.import_name,
        modality=task.modality,
        input=dataset.input_spec,
        featurizer=distilled.needs,
        classes=task.class_names,
        call_timeout_s=task.programs.call_timeout_s,
        seed=options.seed,
        programs=[ProgramEntry(e.file, e.strategy, e.pinned, e.writer) for e in emitted],
        label_model_columns=_label_model_columns(names, kept, emitted),
        label_model=fit.label_model["kind"],
        label_model_choice=fit.choice,
        diagnostics=stats,
        dropped=dropped,
        selection_data=selection,
        metrics=metrics,
        evidence={
            "class_balance": evidence.class_balance(fit.soft.argmax(axis=1), fit.valid_labels,
                                                    len(task.classes)),
            "program_pairs": evidence.program_pairs(fit.L_train),
        },
        cost=ledger,
        distill={**features, "hidden": task.distill.hidden, "seeds": task.distill.seeds,
                 "rows": len(fit.distill_rows), "covered_train_rows": fit.covered_rows,
                 "best_epochs": [m.best_epoch for m in distilled.members],
                 "parity_max_abs_error": distilled.parity_error},
        sources_sha256=provenance.source_hashes(task),
        versions=provenance.library_versions(),
    )
    readme = {"label_model_kind": fit.label_model["kind"],
              "dropped": generate.dropped_for_review(found.attempts, found.rejected, stats),
              "inputs": modality.runtime(dataset.input_spec), "choice": fit.choice,
              "selection": shown_summary_line(selection),
              "weights": evidence.label_model_accuracies(fit.label_model), "per_class": evidence.per_class}
    written, wheel, changes = _emit(task, out_dir, emitted, fit.label_model, distilled, manifest, readme,
                                    _installed_check(dataset.splits, votes, kept, len(emitted)),
                                    force=options.force, stages=stages)
    print_summary(console, metrics, ledger, run_spending(llm))
    print_groups(console, metrics)
    for line in summary_lines(changes) if changes else []:
        console.print(line)
    make_console(quiet=not (options.show_progress or options.quiet)).print(final_line(out_dir, wheel))
    if options.summary_path is not None:
        write_summary(options.summary_path, compile_summary(
            task_path, out_dir, wheel, written, found.rejected, run_spending(llm),
            {**stages.timings, "total": stages.elapsed()}, changes))
    return written


def _selected(found: generate.Candidates, stats: list[ProgramStats]) -> tuple[list[int], list[str]]:
    """The kept columns, and every rejected or dropped program with its reason."""
    kept = [j for j, s in enumerate(stats) if s.kept]
    dropped = [f"{origin}: {reason}" for origin, reason in found.rejected.items()] + [
        f"{s.name}: {s.dropped}" for s in stats if not s.kept]
    if not kept:
        raise AlchemistError("no program survived selection: " + "; ".join(dropped))
    return kept, dropped


def _label_and_distill(task: Task, dataset: Dataset, L_train: np.ndarray, valid: Split | None,
                       L_valid: np.ndarray | None, options: Options, console: Console, stages: Stages):
    """Fit the label model (auto: each candidate judged by the model distilled from its soft
    labels) and distill its soft labels (features auto: with each featurizer); returns the
    LabelModelFit, the distilled model and the manifest's record of its features."""
    covered_rows = np.flatnonzero(covered(L_train))
    rows = seeded_sample(covered_rows, task.distill.max_rows, options.seed)
    job = DistillJob(get_modality(task.modality).runtime(dataset.input_spec), task.distill,
                     [dataset.train.labeler_inputs[i] for i in rows], options.seed,
                     valid.labeler_inputs if valid is not None else None,
                     valid.labels if valid is not None else None, stages.stage)
    judge, judged = distilled_judge(task, job, L_train[rows])
    if task.label_model.kind == "auto" and job.has_valid:
        console.print(f"label model auto: distilling a {judge_featurizer(task)} model from each "
                      "candidate's soft labels")
    with stages.stage("label model fit"):
        fit = _fit_label_model(task, L_train, L_valid, valid, options.seed, len(covered_rows), rows, judge)
    _print_label_model(console, fit, task.distill.max_rows)
    kind = fit.label_model["kind"]
    ready = {judge_featurizer(task): judged[kind]} if kind in judged else {}
    distilled, features = distill_features(task, console, job, fit.soft, ready)
    return fit, distilled, features


@dataclass(frozen=True)
class LabelModelFit:
    """The fitted label model, why its kind, and the distilled model's training rows (covered
    train rows; a seeded sample of distill.max_rows of them when there are more) with their soft
    labels."""

    label_model: dict
    choice: dict
    L_train: np.ndarray  # the kept columns
    covered_rows: int  # train rows with at least one vote
    distill_rows: np.ndarray  # in row order
    soft: np.ndarray  # (len(distill_rows), k)
    valid_labels: np.ndarray | None  # of the valid rows that choose


def _fit_label_model(task: Task, L_train: np.ndarray, L_valid: np.ndarray | None, valid: Split | None,
                     seed: int, covered_rows: int, rows: np.ndarray, judge: Judge) -> LabelModelFit:
    valid_labels = valid.labels if valid is not None else None
    label_model = fit_label_model(task.label_model.kind, L_train, len(task.classes),
                                  valid_labels=valid_labels, seed=seed, L_valid=L_valid, judge=judge)
    choice = provenance.label_model_choice(task.label_model.kind, label_model, L_train.shape[1],
                                           SNORKEL_MIN_COLUMNS)
    return LabelModelFit(label_model, choice, L_train, covered_rows, rows,
                         predict_proba(label_model, L_train[rows]), valid_labels)


def seeded_sample(rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """All `rows` up to `limit`, else `limit` of them drawn without replacement by numpy's
    default_rng(seed), in row order."""
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def _faster_programs(task: Task, found: generate.Candidates, kept: list[int], dataset: Dataset,
                     options: Options) -> list[Program]:
    """The kept programs, each rewritten where that gives identical votes (pinned ones run as
    reviewed)."""
    columns = [j for j in kept if j < len(found.programs)]
    movable = [j for j in columns if not emit.is_pinned(found.programs[j])]
    modality = get_modality(task.modality)
    faster = dict(zip(movable, speed_up(
        [found.programs[j] for j in movable], movable, {n: s.inputs for n, s in dataset.splits.items()},
        {n: r.votes for n, r in found.results.items()}, len(task.classes),
        apply_settings(task, options), modality.probe_inputs(dataset.input_spec),
        task.modality == "text")))
    return [faster.get(j, found.programs[j]) for j in columns]


def _label_model_columns(names: list[str], kept: list[int], emitted: list[emit.EmittedProgram]) -> list[str]:
    """The label model's columns by file stem (weak-label columns by name), in its order."""
    stems = [e.file.removesuffix(".py") for e in emitted]  # the kept programs, in column order
    return stems + [names[j] for j in kept[len(stems):]]


def _installed_check(splits: dict[str, Split], votes: dict, kept: list[int],
                     programs: int) -> tuple[list, np.ndarray]:
    """Inputs and expected votes the installed labeler must reproduce."""
    sample = _check_sample(splits)
    check_votes = votes[sample.name][:CHECK_ROWS, kept].copy()
    check_votes[:, programs:] = -1  # precomputed weak labels are not available offline
    return sample.labeler_inputs[:CHECK_ROWS], check_votes


def _print_label_model(console: Console, fit: LabelModelFit, max_rows: int) -> None:
    """Why the kind was chosen, when it is not simply the one asked for; then kind and coverage
    (and the distillation sample, when there is one)."""
    choice = fit.choice
    if choice["kind"] != choice["requested"]:
        console.print(choice["reason"], style=None if choice["requested"] == "auto" else "yellow")
    console.print(f"label model: {choice['kind']}, train coverage {fit.covered_rows / len(fit.L_train):.3f}")
    if len(fit.distill_rows) < fit.covered_rows:
        console.print(f"distilled model: trained on a seeded sample of {len(fit.distill_rows)} of the "
                      f"{fit.covered_rows} covered train rows (distill.max_rows: {max_rows})")


def _emit(task, out_dir: Path, emitted, label_model, distilled: Distilled, manifest: Manifest, readme,
          check, *, force: bool, stages: Stages) -> tuple[dict, str, dict | None]:
    """Build the package beside out_dir, check the installed wheel, then move it into place
    (OUTDIR is checked again: the user may have put files there during the compile).

    Returns manifest.json as written, the wheel's file name and, when OUTDIR held this task's
    labeler, the diff from it."""
    previous = labeler_manifest(out_dir)
    if previous is not None and previous.get("name") != task.name:
        previous = None  # another task's labeler: this one starts its own versions
    build_root = make_build_dir(out_dir)
    try:
        with stages.stage("writing the package"):
            written = emit.write_package(build_root, task, emitted, label_model, distilled.model,
                                         manifest, readme, previous=previous)
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
    return written, wheel.name, changes


def _report_rejections(console: Console, found: generate.Candidates, attempts: list[Attempt]) -> None:
    for attempt in attempts:
        if attempt.origin in found.rejected:
            console.print(f"[yellow]rejected[/] {attempt.origin}: {found.rejected[attempt.origin]}")
