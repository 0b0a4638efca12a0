"""Stage 6: run programs over inputs, each in its own contained process -> int8 label matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alchemist_runtime.sandbox import ApplyResult, ContainmentUnavailable, ProgramPool
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .engine import DEFAULT_PARTITION_ROWS, apply_on_dask
from .errors import AlchemistError
from .progress import make_console
from .programs.build import Program


@dataclass(frozen=True)
class ApplySettings:
    """How programs run: worker processes, limits, and whether OS containment is required."""

    jobs: int
    call_timeout: float
    allow_unconfined: bool = False
    scheduler: str | None = None  # a Dask scheduler's address: apply there (engine.py)
    partition_rows: int = DEFAULT_PARTITION_ROWS  # rows per Dask partition
    block_rows: int = 100_000  # rows read and sent at a time (data.chunk_rows)

    def pool(self, sources: list[str], k: int) -> ProgramPool:
        return ProgramPool(sources, k, workers=self.jobs, call_timeout=self.call_timeout,
                           require_confinement=not self.allow_unconfined)


def apply_programs(
    programs: Sequence[Program],
    splits: dict[str, list],
    k: int,
    settings: ApplySettings,
    *,
    recheck: tuple[str, int] | None = None,
    show_progress: bool = True,
) -> dict[str, ApplyResult]:
    """Votes of every program on every split.

    `recheck` = (split, rows): the first rows of that split are labeled again by fresh
    processes, in order and in reverse; a program whose votes differ is stopped on every split
    ("its votes differ between runs"), so that the installed labeler, which runs those rows
    again, reproduces the compile.
    """
    sources = [p.source for p in programs]
    columns = (TextColumn("applying programs to {task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    results: dict[str, ApplyResult] = {}
    try:
        with settings.pool(sources, k) as pool:
            with Progress(*columns, disable=not show_progress, transient=True) as progress:
                for name, inputs in splits.items():
                    bar = progress.add_task(name, total=len(inputs))
                    done = _failed(results.values())  # stopped on an earlier split: dropped
                    advance = lambda n, bar=bar: progress.advance(bar, n)
                    if settings.scheduler is None:
                        apply = lambda rows, skip, advance=advance: pool.apply(rows, advance, skip=skip)
                    else:
                        apply = lambda rows, skip, advance=advance: apply_on_dask(
                            settings, sources, k, rows, advance, skip)
                    results[name] = _in_blocks(apply, inputs, len(sources), settings.block_rows, done)
        if recheck is not None and sources:
            name, rows = recheck
            unstable = _unstable(sources, k, settings, splits[name][:rows],
                                 results[name].votes[:rows], skip=_failed(results.values()))
            for result in results.values():
                _stop(result, unstable)
    except ContainmentUnavailable as error:
        raise AlchemistError(f"{error}; pass --allow-unconfined to run them anyway") from None
    if show_progress and programs:
        make_console().print(_time_spent(programs, results))
    return results


def _in_blocks(apply, inputs: Sequence, m: int, block_rows: int, skip: set[int]) -> ApplyResult:
    """`apply(rows, skip)` over `inputs`, `block_rows` at a time (a spooled split is read a block
    at a time), into one result: the votes filled in place, counts and times added up (each
    block has its own time budget), a program stopped in a block skipped in the next ones."""
    if len(inputs) <= block_rows:
        return apply(inputs, skip)
    votes, total = np.full((len(inputs), m), -1, dtype=np.int8), None
    for start in range(0, len(inputs), block_rows):
        part = apply(inputs[start:start + block_rows], skip | _failed([total] if total else []))
        votes[start:start + len(part.votes)] = part.votes
        total = part if total is None else _added(total, part)
    total.votes = votes
    return total


def _added(total: ApplyResult, part: ApplyResult) -> ApplyResult:
    """Counts and times of two blocks added up; a load error or stop reason kept from either."""
    return ApplyResult(
        total.votes, total.exceptions + part.exceptions, total.timeouts + part.timeouts,
        total.invalid + part.invalid, [a or b for a, b in zip(total.load_errors, part.load_errors)],
        [a or b for a, b in zip(total.stopped, part.stopped)], total.seconds + part.seconds)


def _time_spent(programs: Sequence[Program], results: dict[str, ApplyResult]) -> str:
    """One line: the programs' total labeling time in this run, and the slowest program's."""
    seconds = sum(result.seconds for result in results.values())
    slowest = int(np.argmax(seconds))
    return (f"{len(programs)} programs labeled {', '.join(results)} in {seconds.sum():.1f} s of "
            f"program time (slowest: {programs[slowest].name}, {seconds[slowest]:.1f} s)")


def _failed(results) -> set[int]:
    """Programs that failed to load or were stopped on any of these results."""
    return {j for result in results for j, (error, stop) in
            enumerate(zip(result.load_errors, result.stopped)) if error or stop}


def _unstable(sources: list[str], k: int, settings: ApplySettings, inputs: list,
              votes: np.ndarray, skip: set[int]) -> dict[int, str]:
    """Programs whose votes on `inputs` differ when run again, forwards and backwards."""
    unstable: dict[int, str] = {}
    for order in (slice(None), slice(None, None, -1)):
        with settings.pool(sources, k) as pool:
            again = pool.apply(inputs[order], skip=sorted(skip)).votes[order]
        again[:, sorted(skip)] = votes[:, sorted(skip)]
        for j in np.flatnonzero((again != votes).any(axis=0)):
            differing = int((again[:, j] != votes[:, j]).sum())
            unstable.setdefault(int(j), f"its votes differ between runs ({differing} of "
                                        f"{len(inputs)} rows labeled again)")
    return unstable


def _stop(result: ApplyResult, reasons: dict[int, str]) -> None:
    for j, reason in reasons.items():
        if result.stopped[j] is None:
            result.stopped[j] = reason


def concat_columns(left: ApplyResult, right: ApplyResult) -> ApplyResult:
    """Results of two program lists on the same rows, side by side."""
    return ApplyResult(
        votes=np.hstack([left.votes, right.votes]),
        exceptions=np.concatenate([left.exceptions, right.exceptions]),
        timeouts=np.concatenate([left.timeouts, right.timeouts]),
        invalid=np.concatenate([left.invalid, right.invalid]),
        load_errors=left.load_errors + right.load_errors,
        stopped=left.stopped + right.stopped,
        seconds=np.concatenate([left.seconds, right.seconds]),
    )


def stop_reasons(results: dict[str, ApplyResult]) -> list[str | None]:
    """Per program: why it was stopped on some split (the split named), or None."""
    width = len(next(iter(results.values())).stopped) if results else 0
    reasons: list[str | None] = [None] * width
    for name, result in results.items():
        for j, reason in enumerate(result.stopped):
            if reason is not None and reasons[j] is None:
                reasons[j] = reason if reason.startswith("its votes") else f"{reason} on {name}"
    return reasons
