"""What the compile shows while it runs: a spinner naming the running stage (on a terminal), a
line for each stage that took a second or more, and every stage's time for the --json summary;
and the console itself, which keeps its tables whole when stderr is a pipe or a file."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from rich.console import Console

SHOWN_AFTER_S = 1.0  # stages that took less are timed, not printed
PIPE_WIDTH = 1000  # not a terminal: lines and tables are never cut or wrapped


def make_console(*, quiet: bool = False) -> Console:
    """A console on stderr: the terminal's width, or no width limit when stderr is not a terminal
    (rich would otherwise shrink tables to 80 columns and cut their headers)."""
    width = None if sys.stderr.isatty() else PIPE_WIDTH
    return Console(stderr=True, quiet=quiet, width=width)


class Stages:
    """Times the compile's stages, in the order they ran."""

    def __init__(self, console: Console):
        self.console = console
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the compile started."""
        return round(time.perf_counter() - self._start, 3)

    @contextmanager
    def stage(self, name: str, *, spinner: bool = True) -> Iterator[None]:
        """Time the block as stage `name` (a stage run again adds up); show it while it runs
        (`spinner=False` for a block that shows its own progress bar), say when it took long."""
        start = time.perf_counter()
        with self.console.status(f"{name} ...") if spinner else nullcontext():
            yield
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + round(seconds, 3)
        if seconds >= SHOWN_AFTER_S:
            self.console.print(f"[dim]{name}: {seconds:.1f} s[/]")
