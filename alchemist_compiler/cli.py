"""`alchemist compile TASK.yaml -o OUTDIR`: the command line."""

from __future__ import annotations

import json
import os
import sys

import click

from .errors import AlchemistError
from .modality import MODALITIES
from .review.commands import diff_command, report_command


@click.group()
@click.version_option(package_name="alchemist-compiler")
def main() -> None:
    """Compile an LLM's knowledge into an offline, installable data labeler."""


@main.command("compile")
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the labeler to: it must not exist, be empty, or be a labeler "
                   "Alchemist wrote (replaced atomically).")
@click.option("--offline", is_flag=True, help="Make no network call: every answer must be in alchemist.lock.")
@click.option("--seed", default=0, show_default=True, help="Seed for the label model and the distilled model.")
@click.option("--jobs", default=min(2, os.cpu_count() or 1), show_default=True,
              help="Worker processes that run the programs.")
@click.option("--quiet", is_flag=True, help="Print only errors and the final line.")
@click.option("--json", "summary_path", type=click.Path(dir_okay=False),
              help="Write a machine-readable summary for CI to this file (see "
                   "schemas/compile-summary.schema.json).")
@click.option("--force", is_flag=True,
              help="Replace OUTDIR even if it is not a labeler (never the task's, data's, lock's, "
                   "current or home folder).")
@click.option("--allow-unconfined", is_flag=True,
              help="Run the programs even where the OS cannot contain them (no seccomp: not Linux).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Apply the programs on this Dask scheduler (e.g. tcp://host:8786) instead of "
                   "local processes; overrides task.yaml's engine.")
def compile_command(task_file: str, out_dir: str, offline: bool, seed: int, jobs: int, quiet: bool,
                    summary_path: str | None,
                    force: bool, allow_unconfined: bool, scheduler: str | None) -> None:
    """Compile TASK_FILE (task.yaml) into a labeler package at OUTPUT."""
    from .pipeline import Options, compile_task

    try:
        compile_task(task_file, out_dir, Options(offline=offline, seed=seed, jobs=jobs,
                                                 quiet=quiet, summary_path=summary_path,
                                                 show_progress=not quiet, force=force,
                                                 allow_unconfined=allow_unconfined,
                                                 scheduler=scheduler))
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


@main.command("baseline")
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--sample", default=200, show_default=True, type=click.IntRange(1),
              help="Rows the LLM labels (a seeded sample of the split).")
@click.option("--split", type=click.Choice(["valid", "test"]),
              help="Labeled split to sample  [default: test, else valid]")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="A labeler compiled from TASK_FILE: its accuracy on the same rows.")
@click.option("--offline", is_flag=True, help="Make no network call: every answer must be in alchemist.lock.")
@click.option("--seed", default=0, show_default=True, help="Seed of the row sample.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar or retry lines.")
def baseline_command(task_file: str, sample: int, split: str | None, out_dir: str | None,
                     offline: bool, seed: int, as_json: bool, quiet: bool) -> None:
    """The paper's zero-shot baseline: the task's LLM labels SAMPLE rows, one request per row
    (through alchemist.lock); accuracy, macro F1 and cost beside the compiled labeler's."""
    from rich.console import Console

    from .baseline import Options, print_baseline, run_baseline

    console = Console(stderr=True, quiet=quiet)
    try:
        result = run_baseline(task_file, out_dir, Options(sample=sample, split=split, seed=seed,
                                                          offline=offline, show_progress=not quiet),
                              console=console)
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        print_baseline(Console(), result)


@main.command("init")
@click.argument("data_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "task_file", default="task.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="The task file to write.")
@click.option("--force", is_flag=True, help="Replace an existing task file.")
def init_command(data_file: str, task_file: str, force: bool) -> None:
    """Write a commented task.yaml for DATA_FILE, guessing the input and label columns and the
    classes; check it, then compile it."""
    from .scaffold import write_task_file

    try:
        guesses = write_task_file(data_file, task_file, force=force)
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    click.echo(f"wrote {task_file}: input {guesses['input']!r}, label {guesses['label']!r}, "
               f"classes {guesses['classes']}; check the lines marked CHECK, then "
               f"alchemist compile {task_file} -o labeler")


@main.command("vet")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--modality", type=click.Choice(list(MODALITIES)), default="text", show_default=True,
              help="What label(x) receives: the probe inputs of the dynamic check.")
@click.option("--classes", "n_classes", type=click.IntRange(2, 127), default=2, show_default=True,
              help="Number of classes K: valid votes are -1 .. K-1.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of verdicts.")
def vet_command(files: tuple[str, ...], modality: str, n_classes: int, as_json: bool) -> None:
    """Vet labeling programs: static rules, then a short run on probe inputs in the sandbox.

    Prints PASS or FAIL (with reasons) per file; exits 1 if any file fails.
    """
    from .vet import vet_files

    verdicts = vet_files(files, modality, n_classes)
    if as_json:
        click.echo(json.dumps([v.as_json() for v in verdicts], indent=1))
    else:
        for verdict in verdicts:
            click.echo(verdict.line())
    sys.exit(0 if all(v.passed for v in verdicts) else 1)


main.add_command(diff_command)
main.add_command(report_command)
