"""Alchemist: compile an LLM's knowledge into an offline, installable data labeler.

The Python API does what `alchemist compile` does, with the same checks and messages; a user
error raises a subclass of AlchemistError (TaskError, DataError, LLMError, OutputDirError)
instead of exiting with code 2:

    from alchemist_compiler import AlchemistError, compile_task

    manifest = compile_task("task.yaml", "labeler", offline=True, show_progress=False)
"""

from __future__ import annotations

from pathlib import Path

from .errors import AlchemistError, DataError, LLMError, OutputDirError, TaskError

__all__ = ["AlchemistError", "DataError", "LLMError", "OutputDirError", "TaskError", "compile_task"]


def compile_task(task_file: str | Path, out_dir: str | Path, **options) -> dict:
    """Compile `task_file` into a labeler package at `out_dir`; returns its manifest.

    `options`: offline, seed, jobs, show_progress, force, allow_unconfined (as the CLI's flags;
    see pipeline.Options).
    """
    from .pipeline import Options
    from .pipeline import compile_task as run

    return run(task_file, out_dir, Options(**options))
