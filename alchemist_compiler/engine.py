"""Apply programs on a Dask cluster: partitions of rows, each labeled by a ProgramPool on a worker.

The Dask worker never runs a program itself: the task it runs (`label_partition`) starts the
same contained processes as a local compile (`alchemist_runtime.sandbox.ProgramPool`, one
process per program, every limit enforced by the pool). Partitions are row ranges of a split;
their votes are written back at their rows, so the label matrix is the local one, whatever
worker ran which partition, and a partition lost with its worker is run again, never twice
counted.

Budgets: a program's time budget for a split (BUDGET_BASE_S + BUDGET_PER_ROW_S per row, as
locally) is shared out over the partitions in proportion to their rows, so the partitions'
budgets add up to the local one; its labeling seconds add up over partitions; the stop after
consecutive timeouts counts within a partition. A program stopped on one partition is stopped
for the split (the first stopped partition, in row order, gives the reason) and is not run on
the partitions submitted after it stopped.

dask and distributed are an optional extra: `pip install 'alchemist-compiler[dask]'`. Every
worker needs alchemist-compiler installed (it imports this module and alchemist_runtime).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from alchemist_runtime.sandbox import BUDGET_BASE_S, BUDGET_PER_ROW_S, ApplyResult, ProgramPool

from .errors import AlchemistError

DEFAULT_PARTITION_ROWS = 100_000
IN_FLIGHT_PER_THREAD = 2  # partitions submitted ahead per worker thread: bounds what is in memory
PROBE_TIMEOUT_S = 5.0  # to open a TCP connection to the scheduler before the client connects


def partitions(n_rows: int, rows: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of at most `rows` rows covering 0..n_rows, in order."""
    return [(start, min(start + rows, n_rows)) for start in range(0, n_rows, rows)]


def label_partition(sources: list[str], k: int, call_timeout: float, allow_unconfined: bool,
                    budget_s: float, inputs: list, skip: list[int]) -> ApplyResult:
    """Runs on a Dask worker: the votes of every program on one partition, in its own pool."""
    with ProgramPool(sources, k, workers=1, call_timeout=call_timeout, time_budget_s=budget_s,
                     require_confinement=not allow_unconfined) as pool:
        return pool.apply(inputs, skip=skip)


def apply_on_dask(settings, sources: list[str], k: int, inputs: Sequence,
                  progress: Callable[[float], None] | None = None,
                  skip: Sequence[int] = ()) -> ApplyResult:
    """The votes of every program on `inputs`, partitions labeled on the cluster at
    `settings.scheduler` (an ApplySettings); equal to ProgramPool.apply's for healthy programs."""
    as_completed = _distributed().as_completed
    bounds = partitions(len(inputs), settings.partition_rows)
    budget = BUDGET_BASE_S + BUDGET_PER_ROW_S * len(inputs)
    merged = _Merged(len(inputs), len(sources))
    skipped = set(skip)
    where: dict[str, tuple[int, int, int]] = {}  # future key -> (partition, start, stop)
    with _connect(settings.scheduler) as client:
        ahead = IN_FLIGHT_PER_THREAD * max(sum(client.nthreads().values()), 1)
        pending = iter(enumerate(bounds))

        def submit(index: int, start: int, stop: int):
            future = client.submit(
                label_partition, sources, k, settings.call_timeout, settings.allow_unconfined,
                budget * (stop - start) / len(inputs), list(inputs[start:stop]),
                sorted(skipped), pure=False, key=f"alchemist-partition-{index}-{_token()}")
            where[future.key] = (index, start, stop)
            return future

        running = as_completed([submit(i, *b) for i, b in _take(pending, ahead)],
                               with_results=True, loop=client.loop)
        for future, result in running:
            index, start, stop = where.pop(future.key)
            merged.add(index, start, result)
            skipped |= {j for j, reason in enumerate(result.stopped) if reason}
            if progress is not None:
                progress(stop - start)
            for i, b in _take(pending, 1):
                running.add(submit(i, *b))
    return merged.result(bounds)


def _take(iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator)]


def _token() -> str:
    import uuid

    return uuid.uuid4().hex


def _distributed():
    try:
        import distributed
    except ImportError:
        raise AlchemistError("engine dask needs dask and distributed: "
                             "pip install 'alchemist-compiler[dask]'") from None
    return distributed


def _connect(address: str):
    check_scheduler(address)
    try:
        return _distributed().Client(address, set_as_default=False, timeout="30s")
    except (OSError, TimeoutError, ValueError) as error:
        raise _unreachable(address, error) from None


def check_scheduler(address: str) -> None:
    """A TCP connection to a tcp:// or tls:// scheduler, closed at once: a refused or unreachable
    address fails in seconds, where the client would retry for its whole timeout. The compile
    checks before it asks the LLM anything, and again when it connects."""
    import socket

    _distributed()  # a clear error without the dask extra
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            socket.create_connection(parse_host_port(location), timeout=PROBE_TIMEOUT_S).close()
    except (OSError, TimeoutError, ValueError) as error:
        raise _unreachable(address, error) from None


def _unreachable(address: str, error: Exception) -> AlchemistError:
    return AlchemistError(f"cannot reach the Dask scheduler at {address} "
                          f"(engine.address / --scheduler): {error}")


class _Merged:
    """Partition results put back at their rows: votes, counts, seconds and stop reasons."""

    def __init__(self, n_rows: int, n_programs: int) -> None:
        self.votes = np.full((n_rows, n_programs), -1, dtype=np.int8)
        self.counts = np.zeros((3, n_programs), dtype=np.int64)
        self.seconds = np.zeros(n_programs)
        self.load_errors: list[str | None] = [None] * n_programs
        self.stops: dict[int, list[str | None]] = {}
        self.done: set[int] = set()

    def add(self, index: int, start: int, result: ApplyResult) -> None:
        if index in self.done:  # a partition is recorded once, whatever Dask retried
            return
        self.done.add(index)
        self.votes[start : start + len(result.votes)] = result.votes
        self.counts += np.stack([result.exceptions, result.timeouts, result.invalid])
        self.seconds += result.seconds
        self.load_errors = [mine or theirs for mine, theirs in
                            zip(self.load_errors, result.load_errors)]
        self.stops[index] = result.stopped

    def result(self, bounds: list[tuple[int, int]]) -> ApplyResult:
        if self.done != set(range(len(bounds))):
            raise RuntimeError(f"partitions {sorted(set(range(len(bounds))) - self.done)} "
                               "came back without votes")
        stopped = [None] * self.votes.shape[1]
        for index in sorted(self.stops):
            start, stop = bounds[index]
            for j, reason in enumerate(self.stops[index]):
                if reason and stopped[j] is None:
                    stopped[j] = f"{reason} (rows {start}-{stop - 1})"
        for j, error in enumerate(self.load_errors):
            if error is not None:
                self.votes[:, j] = -1
                self.counts[:, j] = 0
        exceptions, timeouts, invalid = self.counts
        return ApplyResult(self.votes, exceptions, timeouts, invalid, self.load_errors, stopped,
                           self.seconds)
