"""Apply untrusted labeling programs to inputs: one contained worker process per program.

Program code never runs in this process. Each program runs alone in its own worker process
(`_sandbox_worker.py`, stdlib only), contained by the operating system: a seccomp-BPF filter
(default deny), no new privileges, Landlock and a network namespace where the kernel allows, an
empty environment and working directory, resource limits. Its Python-level layers (policy
builtins and module proxies, an audit hook) come on top. See the worker's docstring.

This process enforces every limit from outside, where a program cannot reach it:
  - per call: the worker raises a shared counter before each call; a counter that does not move
    for `call_timeout` (+ a grace) is a timeout: the process is killed, the call abstains, and a
    fresh process goes on from the next row. A crash (memory, C stack) is counted the same way.
  - per program and apply(): a time budget (the wall-clock time its processes spent labeling,
    backed by the kernel's RLIMIT_CPU on each process) and a stop after
    `max_consecutive_timeouts`; a stopped program's remaining rows abstain and
    `ApplyResult.stopped` says why.
  - memory: RLIMIT_AS in the worker and an RSS watchdog here.
  - protocol: every frame and the shared buffer are validated (size, JSON, ranges, counts);
    a violation stops that program, never the apply.
Nothing a worker sends is unpickled; votes come back through a shared buffer of int8.
POSIX only; OS containment on Linux (x86_64, aarch64).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_WORKER_SCRIPT = Path(__file__).with_name("_sandbox_worker.py")
# No site (-S, -s) and no script directory on sys.path (-P). Not -I: it implies -E, which would
# ignore the fixed hash seed that keeps set/dict-of-str iteration identical in every worker.
_WORKER_FLAGS = ("-S", "-s", "-P")
# The worker loaded as a module, not run as a script, so that its compiled bytecode is cached
# (__pycache__) instead of compiled again by every process (~30 ms each).
_WORKER_BOOT = ("import importlib.util as u, sys; "
                "s = u.spec_from_file_location('_sandbox_worker', sys.argv[1]); "
                "m = u.module_from_spec(s); s.loader.exec_module(m); m.main()")
_WORKER_ENV = {"PYTHONHASHSEED": "0"}  # and nothing else: no keys, no HOME, no OPENAI_*
_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct("=III")  # started, exceptions, invalid
_MAX_FRAME_BYTES = 1 << 12
_MAX_ERROR_CHARS = 500
_STARTUP_LIMIT_S = 30.0  # a new worker must report ready within this (a loaded machine is slow)
_EXIT_GRACE_S = 1.0  # for workers to exit by themselves on close()
_CALL_GRACE_S = 0.5  # scheduling slack on top of call_timeout before a call is killed
_MIN_LOAD_BUDGET_S = 1.0
_MAX_TICK_S = 0.05
_SPLIT_MIN_S = 0.25  # unsent rows that take less than this are not split off to an idle worker
# Default time budget per program and apply(): this plus BUDGET_PER_ROW_S per row. Wall-clock
# labeling time grows with the machine's load: the budget is generous (typical programs take
# microseconds a row), so that it stops runaway programs without making a loaded compile drop
# healthy ones.
BUDGET_BASE_S = 60.0
BUDGET_PER_ROW_S = 0.005
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=True)
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ContainmentUnavailable(RuntimeError):
    """The OS cannot contain program processes here (no seccomp), and containment is required."""


@dataclass
class ApplyResult:
    """Votes of m programs on n inputs, and what went wrong per program."""

    votes: np.ndarray  # int8 (n, m); -1 = abstain
    exceptions: np.ndarray  # int64 (m,): calls that raised
    timeouts: np.ndarray  # int64 (m,): calls over the time limit, or that crashed their process
    invalid: np.ndarray  # int64 (m,): calls that returned anything but an int in [-1, k-1]
    load_errors: list[str | None]  # per program: None, or why it failed to load (column all -1)
    stopped: list[str | None] = field(default_factory=list)  # why a program was stopped early
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float (m,): time labeling


class _ProtocolError(Exception):
    """A worker sent something that does not follow the protocol."""


class _Process:
    """One worker process running one program, spoken to over non-blocking framed pipes."""

    def __init__(self, config: dict, buffer_rows: int) -> None:
        self.buffer_rows = buffer_rows
        fd = _shared_fd(_HEADER.size + buffer_rows)
        try:
            self.buffer = mmap.mmap(fd, _HEADER.size + buffer_rows)
            self.proc = _spawn_worker(fd)
        finally:
            os.close(fd)
        self.reader = self.proc.stdout.fileno()
        self.writer = self.proc.stdin.fileno()
        os.set_blocking(self.writer, False)
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.state = "starting"  # -> loading -> idle <-> running
        self.deadline = time.monotonic() + _STARTUP_LIMIT_S
        self.cpu_allowance = 0.0
        self.chunk = (0, 0)
        self.sent_at = self.last_progress = 0.0
        self.started_seen = 0
        self.dead = False
        self.send(json.dumps({**config, "buffer_fd": fd, "buffer_rows": buffer_rows}).encode())

    # -- pipes ---------------------------------------------------------------------------------
    def send(self, body: bytes) -> None:
        self.outbox += _LENGTH.pack(len(body)) + body
        self.flush()

    def flush(self) -> None:
        """Write as much of the outbox as the pipe takes now; a broken pipe marks it dead."""
        try:
            written = os.write(self.writer, self.outbox)
        except BlockingIOError:
            return
        except OSError:
            self.dead = True
            return
        del self.outbox[:written]

    def receive(self) -> None:
        """Read what the worker sent; end of file marks it dead."""
        try:
            data = os.read(self.reader, 1 << 16)
        except OSError:
            data = b""
        if not data:
            self.dead = True
        self.inbox += data

    def messages(self) -> Iterator[dict]:
        """Complete frames received so far, as JSON objects."""
        while len(self.inbox) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self.inbox)
            if length > _MAX_FRAME_BYTES:
                raise _ProtocolError(f"a frame of {length} bytes")
            end = _LENGTH.size + length
            if len(self.inbox) < end:
                return
            body = bytes(self.inbox[_LENGTH.size : end])
            del self.inbox[:end]
            try:
                message = json.loads(body)
            except (ValueError, RecursionError) as error:
                raise _ProtocolError("a frame that is not JSON") from error
            if not isinstance(message, dict) or len(message) != 1:
                raise _ProtocolError("a frame that is not a one-key object")
            yield message

    # -- the shared buffer ---------------------------------------------------------------------
    def counters(self) -> tuple[int, int, int]:
        return _HEADER.unpack_from(self.buffer, 0)

    def votes(self, rows: int) -> np.ndarray:
        return np.frombuffer(self.buffer, dtype=np.int8, count=rows, offset=_HEADER.size).copy()

    def start_chunk(self, body: bytes, start: int, stop: int) -> None:
        self.buffer[: _HEADER.size] = bytes(_HEADER.size)
        self.chunk = (start, stop)
        self.state = "running"
        self.sent_at = self.last_progress = time.monotonic()
        self.started_seen = 0
        self.send(body)

    # -- limits --------------------------------------------------------------------------------
    def allow_cpu(self, seconds: float) -> None:
        """Raise this process's RLIMIT_CPU soft limit by `seconds` (the kernel's backstop)."""
        self.cpu_allowance += seconds
        if sys.platform != "linux":  # prlimit is Linux-only
            return
        import resource

        _soft, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_CPU)
        soft = math.ceil(self.cpu_allowance) + 1
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        try:
            resource.prlimit(self.proc.pid, resource.RLIMIT_CPU, (soft, hard))
        except (ProcessLookupError, PermissionError):
            pass  # it is gone; the parent's own budget still holds

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE_BYTES
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> None:
        """Kill the worker (its own session), close its pipes and reap it."""
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.close_pipes()
        self.proc.wait()

    def close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def _shared_fd(size: int) -> int:
    """A file descriptor of `size` zero bytes in memory, shared with a worker."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("alchemist-votes", 0)
    else:
        with tempfile.TemporaryFile() as file:
            fd = os.dup(file.fileno())
    os.ftruncate(fd, size)
    return fd


def _spawn_worker(fd: int) -> subprocess.Popen:
    """A worker process holding `fd`, started in an empty temporary directory that is removed
    as soon as the worker runs: it keeps the removed directory as its cwd, where nothing can be
    created, and nothing is left behind even when the parent is killed later."""
    cwd = tempfile.mkdtemp(prefix="alchemist-sandbox-")
    try:
        return subprocess.Popen(
            [sys.executable, *_WORKER_FLAGS, "-c", _WORKER_BOOT, str(_WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=_WORKER_ENV,
            cwd=cwd,
            pass_fds=(fd,),
            start_new_session=True,  # a terminal's Ctrl-C must not reach the programs
        )
    finally:
        os.rmdir(cwd)


def _stop_all(processes: dict[tuple[int, int], _Process]) -> None:
    """Let every worker exit on end of input; kill and reap those still running after a grace."""
    alive = list(processes.values())
    processes.clear()
    for process in alive:
        process.close_pipes()
    deadline = time.monotonic() + _EXIT_GRACE_S
    for process in alive:
        try:
            process.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            pass
        process.kill()


def _wait_readable(processes: list[_Process], timeout: float) -> set[_Process]:
    """Flush pending writes and wait up to timeout; the processes with data (or EOF) to read."""
    with selectors.DefaultSelector() as selector:
        for process in processes:
            selector.register(process.reader, selectors.EVENT_READ, (process, True))
            if process.outbox:
                selector.register(process.writer, selectors.EVENT_WRITE, (process, False))
        ready = selector.select(max(timeout, 0.0))
    readable = set()
    for key, _ in ready:
        process, is_read = key.data
        if is_read:
            readable.add(process)
        else:
            process.flush()
    return readable


@dataclass
class _Job:
    """One apply() call: the encoded rows and the results so far."""

    rows_json: list[bytes]
    n_programs: int
    progress: Callable[[float], None] | None
    budget_s: float

    def __post_init__(self) -> None:
        n, m = len(self.rows_json), self.n_programs
        self.votes = np.full((n, m), -1, dtype=np.int8)
        self.counts = np.zeros((3, m), dtype=np.int64)  # exceptions, timeouts, invalid
        self.stopped: list[str | None] = [None] * m
        self.seconds = np.zeros(m)  # time spent per program, all its parts
        self.rows_done = np.zeros(m, dtype=np.int64)  # rows recorded per program
        self.parts = [1] * m  # columns started per program

    def next_part(self, program: int) -> int:
        self.parts[program] += 1
        return self.parts[program] - 1

    @property
    def n_rows(self) -> int:
        return len(self.rows_json)

    def chunk_body(self, start: int, stop: int) -> bytes:
        return b"[" + b",".join(self.rows_json[start:stop]) + b"]"

    def advance(self, rows: int) -> None:
        """Report progress: `rows` calls of one program, in rows of all programs."""
        if rows and self.progress is not None and self.n_programs:
            self.progress(rows / self.n_programs)


@dataclass
class _Column:
    """One program's pass over rows [start, stop) of a job, in one process at a time."""

    program: int
    part: int
    start: int
    stop: int
    next_row: int = -1
    consecutive_timeouts: int = 0
    finished: bool = False

    def __post_init__(self) -> None:
        self.next_row = self.start

    @property
    def key(self) -> tuple[int, int]:
        return self.program, self.part


class ProgramPool:
    """Labeling programs, each run in its own contained worker process; apply() labels inputs.

    A program is Python source defining `label(x) -> int`: a class index in [0, n_classes - 1],
    or -1 to abstain, that may import only what `program_policy.json` allows. Up to `workers`
    processes run at once, one program each, taking programs in order; when no program is left
    to start and a worker would be idle, the unsent half of the running program with the most
    work left moves to a new process (its part 1, 2, ...), so one slow program does not leave
    the other workers idle, and short jobs start one process per program. Processes are kept
    for later apply() calls. Use as a context manager, or call
    close().

    `require_confinement`: without OS containment (not Linux, or seccomp unavailable), raise
    ContainmentUnavailable (True) or warn once and go on (False). `_confine` and
    `_escape_hatch` exist for tests only: the first skips the OS layers (to test the refusal),
    the second hands every program the real os and libc (to test the OS layers alone).
    """

    def __init__(
        self,
        sources: Sequence[str],
        n_classes: int,
        *,
        workers: int = 2,
        call_timeout: float = 1.0,
        memory_mb: int = 2048,
        chunk_size: int = 2048,
        time_budget_s: float | None = None,
        max_consecutive_timeouts: int = 3,
        require_confinement: bool = True,
        _confine: bool = True,
        _escape_hatch: bool = False,
    ) -> None:
        if not 1 <= n_classes <= 127:
            raise ValueError(f"n_classes must be in [1, 127], got {n_classes}")
        if min(workers, chunk_size, call_timeout, memory_mb, max_consecutive_timeouts) <= 0:
            raise ValueError("workers, chunk_size, call_timeout, memory_mb and "
                             "max_consecutive_timeouts must be positive")
        self._sources = list(sources)
        if not all(isinstance(source, str) for source in self._sources):
            raise TypeError("program sources must be str")
        self._n_classes = n_classes
        self._workers = workers
        self._chunk_size = chunk_size
        self._memory_bytes = int(memory_mb) * 2**20
        self._call_limit = call_timeout + _CALL_GRACE_S
        self._load_budget = max(call_timeout, _MIN_LOAD_BUDGET_S)
        self._tick = min(max(call_timeout / 4, 0.005), _MAX_TICK_S)
        self._time_budget_s = time_budget_s
        self._max_consecutive = max_consecutive_timeouts
        self._require_confinement = require_confinement
        self._config = {"n_classes": n_classes, "memory_mb": int(memory_mb),
                        "confine": _confine, "escape_hatch": _escape_hatch}
        self._load_errors: list[str | None] = [None] * len(self._sources)
        #: The OS layers the last started worker reported: {"seccomp", "landlock", "netns"}.
        self.containment: dict[str, bool] = {}
        self._processes: dict[tuple[int, int], _Process] = {}  # (program, part) -> its process
        self._finalizer = weakref.finalize(self, _stop_all, self._processes)

    def __enter__(self) -> ProgramPool:  # the labeler supports Python 3.10: no typing.Self
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop all workers and reap them. Idempotent."""
        self._finalizer()

    def apply(
        self,
        inputs: Sequence,
        progress: Callable[[float], None] | None = None,
        skip: Sequence[int] = (),
    ) -> ApplyResult:
        """Votes of every program on every input (JSON-serializable values).

        progress(r), if given, is called as work finishes, with r in rows (fractions of a row
        when some programs are done with it); the calls add up to len(inputs). Programs in
        `skip` are not run: their columns abstain.
        """
        if not self._finalizer.alive:
            raise RuntimeError("the ProgramPool is closed")
        rows_json = [_ROW_ENCODER.encode(row).encode("ascii") for row in inputs]
        budget = self._time_budget_s
        if budget is None:
            budget = BUDGET_BASE_S + BUDGET_PER_ROW_S * len(rows_json)
        job = _Job(rows_json, len(self._sources), progress, budget)
        queue = deque(_Column(p, 0, 0, job.n_rows) for p in range(len(self._sources))
                      if p not in skip)
        running: list[_Column] = []
        try:
            while queue or running:
                if not queue and len(running) < self._workers:
                    queue.extend(self._split_tail(running, job))
                while queue and len(running) < self._workers:
                    column = queue.popleft()
                    self._begin(column, job)
                    if not column.finished:
                        running.append(column)
                self._serve(running, job)
                running = [column for column in running if not column.finished]
        except BaseException:
            for column in running:
                self._discard(column)
            raise
        return self._result(job)

    def _split_tail(self, running: list[_Column], job: _Job) -> list[_Column]:
        """A new column for the unsent second half of the running column with the most work
        left (estimated from its program's finished chunks), when its unsent rows are at least
        two chunks and would take longer than _SPLIT_MIN_S; else none."""
        best, best_s, best_sent = None, _SPLIT_MIN_S, 0
        for column in running:
            process = self._processes.get(column.key)
            sent = process.chunk[1] if process and process.state == "running" else column.next_row
            unsent, done = column.stop - sent, job.rows_done[column.program]
            seconds = unsent * job.seconds[column.program] / max(done, 1)
            if (unsent >= 2 * self._chunk_size and done and seconds > best_s
                    and not self._given_up(column, job)):
                best, best_s, best_sent = column, seconds, sent
        if best is None:
            return []
        middle = best_sent + (best.stop - best_sent) // 2
        tail = _Column(best.program, job.next_part(best.program), middle, best.stop)
        best.stop = middle
        return [tail]

    # -- scheduling ----------------------------------------------------------------------------
    def _begin(self, column: _Column, job: _Job) -> None:
        """Start a column: nothing to do for a program that failed to load, else a process."""
        if self._load_errors[column.program] is not None:
            self._finish(column, job)
            return
        process = self._process(column)
        process.allow_cpu(job.budget_s)
        if process.state == "idle":
            self._next_chunk(column, job)

    def _process(self, column: _Column) -> _Process:
        process = self._processes.get(column.key)
        if process is None:
            config = {**self._config, "source": self._sources[column.program]}
            process = self._processes[column.key] = _Process(config, self._chunk_size)
        return process

    def _serve(self, running: list[_Column], job: _Job) -> None:
        """Wait for the running columns' processes, then handle what they sent and their limits."""
        processes = [self._processes[c.key] for c in running]
        readable = _wait_readable(processes, self._tick)
        for column, process in zip(running, processes):
            try:
                if process in readable:
                    process.receive()
                for message in process.messages():
                    self._on_message(column, process, message, job)
                    if column.finished or self._processes.get(column.key) is not process:
                        break
                else:
                    self._check(column, process, job)
            except _ProtocolError as error:
                self._stop(column, job, f"broke the sandbox protocol ({error})")

    def _on_message(self, column: _Column, process: _Process, message: dict, job: _Job) -> None:
        key, value = next(iter(message.items()))
        if process.state == "starting" and key == "ready":
            self._on_ready(process, value)
        elif process.state == "loading" and key == "loaded":
            if value is not None:
                self._load_errors[column.program] = str(value)[:_MAX_ERROR_CHARS]
                self._discard(column)
                self._finish(column, job)
                return
            process.state = "idle"
            self._next_chunk(column, job)
        elif process.state == "running" and key == "done":
            start, stop = process.chunk
            if value != stop - start:
                raise _ProtocolError("a result for another chunk")
            self._record(column, process, job, stop - start, partial=False)
            column.consecutive_timeouts = 0
            process.state = "idle"
            self._next_chunk(column, job)
        else:
            raise _ProtocolError(f"an unexpected {key!r} message")

    def _on_ready(self, process: _Process, state: object) -> None:
        if not (isinstance(state, dict) and all(type(v) is bool for v in state.values())):
            raise _ProtocolError("a bad ready message")
        self.containment = dict(state)
        if not state.get("seccomp"):
            self._unconfined()
        process.state = "loading"
        process.deadline = time.monotonic() + self._load_budget

    def _unconfined(self) -> None:
        """Refuse, or warn (Python shows a warning once per place) and go on."""
        message = ("labeling programs cannot be contained by the operating system here "
                   "(seccomp is unavailable: Linux on x86_64 or aarch64 is needed)")
        if self._require_confinement:
            raise ContainmentUnavailable(message)
        warnings.warn(f"{message}; they run WITHOUT OS-level containment", stacklevel=2)

    def _next_chunk(self, column: _Column, job: _Job) -> None:
        given_up = self._given_up(column, job)
        if given_up:
            self._discard(column)
        if given_up or column.next_row >= column.stop:
            self._finish(column, job)
            return
        start, stop = column.next_row, min(column.next_row + self._chunk_size, column.stop)
        self._processes[column.key].start_chunk(job.chunk_body(start, stop), start, stop)

    def _given_up(self, column: _Column, job: _Job) -> bool:
        """The program failed to load or was stopped (in another of its columns, maybe)."""
        p = column.program
        return self._load_errors[p] is not None or job.stopped[p] is not None

    def _check(self, column: _Column, process: _Process, job: _Job) -> None:
        """Enforce start-up and load deadlines, the call limit, memory and the time budget."""
        now = time.monotonic()
        if process.state == "starting":
            if process.dead or now > process.deadline:
                raise RuntimeError("a sandbox worker failed to start")
        elif process.state == "loading":
            if process.dead or now > process.deadline:
                self._load_errors[column.program] = (
                    "the program crashed its process while loading" if process.dead
                    else f"TimeoutError: loading took longer than {self._load_budget:g} s")
                self._discard(column)
                self._finish(column, job)
        elif self._given_up(column, job):  # stopped or failed to load in another column
            self._discard(column)
            self._finish(column, job)
        elif process.state == "running":
            started = process.counters()[0]
            if started != process.started_seen:
                process.started_seen, process.last_progress = started, now
            spent = job.seconds[column.program] + now - process.sent_at
            if spent > job.budget_s:
                self._over_budget(column, process, job)
            elif (process.dead or now - process.last_progress > self._call_limit
                  or process.rss_bytes() > self._memory_bytes):
                self._call_failed(column, process, job)
        elif process.dead:  # idle: nothing was asked of it
            self._discard(column)

    def _record(self, column: _Column, process: _Process, job: _Job, rows: int,
                partial: bool) -> None:
        """Take the votes and counts of the chunk's first `rows` rows from the shared buffer.

        A partial record (the process was killed mid-chunk) may hold the counts of the killed
        call: they are clipped to the abstains.
        """
        p = column.program
        start, _stop = process.chunk
        started, exceptions, invalid = process.counters()
        votes = process.votes(rows)
        abstains = int((votes == -1).sum())
        if rows and (votes.min() < -1 or votes.max() >= self._n_classes):
            raise _ProtocolError("a vote out of range")
        if partial:
            exceptions = min(exceptions, abstains)
            invalid = min(invalid, abstains - exceptions)
        elif started != rows or exceptions + invalid > abstains:
            raise _ProtocolError("counts that do not match the votes")
        job.votes[start : start + rows, p] = votes
        job.counts[0, p] += exceptions
        job.counts[2, p] += invalid
        job.seconds[p] += time.monotonic() - process.sent_at
        job.rows_done[p] += rows
        column.next_row = start + rows
        job.advance(rows)

    def _call_failed(self, column: _Column, process: _Process, job: _Job) -> None:
        """The call in progress hung or crashed its process: a timeout; go on after its row."""
        done = self._take_partial(column, process, job)
        job.counts[1, column.program] += 1
        column.consecutive_timeouts = 1 if done else column.consecutive_timeouts + 1
        column.next_row += 1
        job.advance(1)
        if column.consecutive_timeouts >= self._max_consecutive:
            self._stop(column, job, f"{column.consecutive_timeouts} calls in a row timed out "
                                    "or crashed")
        elif column.next_row >= column.stop:
            self._finish(column, job)
        else:
            self._begin(column, job)

    def _take_partial(self, column: _Column, process: _Process, job: _Job) -> int:
        """Kill a process mid-chunk and record the calls it finished; how many it finished."""
        self._discard(column)
        started = process.counters()[0]
        if started > process.chunk[1] - process.chunk[0]:
            raise _ProtocolError("a progress counter out of range")
        done = max(started - 1, 0)
        self._record(column, process, job, done, partial=True)
        return done

    def _over_budget(self, column: _Column, process: _Process, job: _Job) -> None:
        self._take_partial(column, process, job)
        self._stop(column, job, f"used its time budget of {job.budget_s:g} s "
                                f"({job.n_rows} rows to label)")

    def _stop(self, column: _Column, job: _Job, reason: str) -> None:
        """Stop a program for the rest of the job: its remaining rows abstain."""
        if job.stopped[column.program] is None:
            job.stopped[column.program] = reason
        self._discard(column)
        self._finish(column, job)

    def _finish(self, column: _Column, job: _Job) -> None:
        job.advance(column.stop - column.next_row)
        column.next_row = column.stop
        column.finished = True

    def _discard(self, column: _Column) -> None:
        process = self._processes.pop(column.key, None)
        if process is not None:
            process.kill()

    def _result(self, job: _Job) -> ApplyResult:
        for program, error in enumerate(self._load_errors):
            if error is not None:
                job.votes[:, program] = -1
                job.counts[:, program] = 0
        exceptions, timeouts, invalid = job.counts
        return ApplyResult(job.votes, exceptions, timeouts, invalid, list(self._load_errors),
                           job.stopped, job.seconds)
