"""The review commands of the command line: `alchemist diff` and `alchemist report`."""

from __future__ import annotations

import json
import sys

import click

from ..errors import AlchemistError


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--format", "output_format", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="markdown: a pull-request comment; json: the same, for tools.")
def diff_command(old: str, new: str, output_format: str) -> None:
    """What changed from labeler OLD to labeler NEW: programs, label model, metrics, cost, versions.

    OLD and NEW: labeler folders (OUTDIR or package folder), wheel files, or import names of
    installed labelers.
    """
    from .diff import diff_labelers, to_markdown
    from .labeler import load_labeler

    try:
        diff = diff_labelers(load_labeler(old), load_labeler(new))
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    click.echo(json.dumps(diff, indent=1) if output_format == "json" else to_markdown(diff), nl=False)
    if output_format == "json":
        click.echo()


@click.command("report")
@click.argument("labeler")
@click.option("-o", "--output", "out_file", required=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
def report_command(labeler: str, out_file: str) -> None:
    """Write the evidence behind LABELER as one self-contained HTML page: program coverage and
    accuracy, overlap and conflict, label-model weights, class balance, confusion matrices,
    per-class precision and recall, cost, and each program's source.

    LABELER: a labeler folder (OUTDIR or package folder), a wheel file, or the import name of an
    installed labeler.
    """
    from .html_report import write_report
    from .labeler import load_labeler

    try:
        write_report(load_labeler(labeler), out_file)
    except AlchemistError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:
        click.echo(f"error: {out_file}: {err.strerror}", err=True)
        sys.exit(2)
    click.echo(f"wrote {out_file}")
