"""Stage 6: run programs over inputs in sandboxed worker processes -> int8 label matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alchemist_runtime.sandbox import ApplyResult, ProgramPool
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .programs.build import Program


def apply_programs(
    programs: Sequence[Program],
    splits: dict[str, list],
    k: int,
    *,
    jobs: int,
    call_timeout: float,
    show_progress: bool = True,
) -> dict[str, ApplyResult]:
    """Votes of every program on every split, from one pool of `jobs` worker processes."""
    results: dict[str, ApplyResult] = {}
    columns = (TextColumn("applying programs to {task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with ProgramPool([p.source for p in programs], k, workers=jobs, call_timeout=call_timeout) as pool:
        with Progress(*columns, disable=not show_progress, transient=True) as progress:
            for name, inputs in splits.items():
                bar = progress.add_task(name, total=len(inputs))
                results[name] = pool.apply(inputs, lambda n, bar=bar: progress.advance(bar, n))
    return results


def concat_columns(left: ApplyResult, right: ApplyResult) -> ApplyResult:
    """Results of two program lists on the same rows, side by side."""
    return ApplyResult(
        votes=np.hstack([left.votes, right.votes]),
        exceptions=np.concatenate([left.exceptions, right.exceptions]),
        timeouts=np.concatenate([left.timeouts, right.timeouts]),
        invalid=np.concatenate([left.invalid, right.invalid]),
        load_errors=left.load_errors + right.load_errors,
    )
