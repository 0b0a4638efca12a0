"""`alchemist compile TASK.yaml -o OUTDIR`: the command line."""

from __future__ import annotations

import os
import sys

import click

from .errors import AlchemistError


@click.group()
@click.version_option(package_name="alchemist-compiler")
def main() -> None:
    """Compile an LLM's knowledge into an offline, installable data labeler."""


@main.command("compile")
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write the labeler package to (replaced atomically).")
@click.option("--offline", is_flag=True, help="Make no network call: every answer must be in alchemist.lock.")
@click.option("--seed", default=0, show_default=True, help="Seed for the label model and the distilled model.")
@click.option("--jobs", default=min(2, os.cpu_count() or 1), show_default=True,
              help="Worker processes that run the programs.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def compile_command(task_file: str, out_dir: str, offline: bool, seed: int, jobs: int, quiet: bool) -> None:
    """Compile TASK_FILE (task.yaml) into a labeler package at OUTPUT."""
    from .pipeline import Options, compile_task

    try:
        compile_task(task_file, out_dir, Options(offline=offline, seed=seed, jobs=jobs, show_progress=not quiet))
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
