"""Apply untrusted labeling programs to inputs, in sandboxed worker processes.

Program code never runs in this process. Each worker (`_sandbox_worker.py`, stdlib only) loads
every program once, under resource limits, restricted builtins, an import allowlist and an audit
hook that refuses files, sockets, processes, imports and code objects, and labels chunks of rows
sent as JSON; votes come back as raw int8 bytes plus a small JSON header, which are validated
here (nothing a worker sends is unpickled). A per-call timer in the worker turns slow calls into
timeout abstains; a call that swallows every interrupt is named by its worker, which then exits:
a timeout abstain, and the rest of the task is rerun. A worker that dies, stalls (no heartbeat),
or breaks the protocol is killed and replaced, and its task is bisected: rows one by one, then a
failing row program by program; a (row, program) that still brings a worker down is a timeout
abstain. The wire protocol is described in `_sandbox_worker.py`. POSIX only.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

_WORKER_SCRIPT = Path(__file__).with_name("_sandbox_worker.py")
# No site (-S, -s) and no script directory on sys.path (-P). Not -I: it implies -E, which would
# ignore the fixed hash seed that keeps set/dict-of-str iteration identical in every worker.
_WORKER_FLAGS = ("-S", "-s", "-P")
_WORKER_ENV = {"PYTHONHASHSEED": "0"}
_LENGTH = struct.Struct(">I")
_MAX_HEADER_BYTES = 1 << 16
_MAX_ERROR_CHARS = 500
_STARTUP_LIMIT_S = 10.0  # a new worker must say hello within this
_EXIT_GRACE_S = 1.0  # for workers to exit by themselves on close()
_STALL_GRACE_S = 1.0  # scheduling slack on top of a call's budget before a silent worker is killed
_MIN_LOAD_BUDGET_S = 1.0
_MAX_TICK_S = 0.25
_COUNT_KEYS = ("exceptions", "timeouts", "invalid")
_CRASHED_WHILE_LOADING = "the program crashed or hung the sandbox worker while loading"
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=True)  # ASCII JSON never holds a raw b"\n"


@dataclass
class ApplyResult:
    """Votes of m programs on n inputs, and what went wrong per program."""

    votes: np.ndarray  # int8 (n, m); -1 = abstain
    exceptions: np.ndarray  # int64 (m,): calls that raised
    timeouts: np.ndarray  # int64 (m,): calls over the time limit, or that killed their worker
    invalid: np.ndarray  # int64 (m,): calls that returned anything but an int in [-1, k-1]
    load_errors: list[str | None]  # per program: None, or why it failed to load (column all -1)


class _ProtocolError(Exception):
    """A worker sent something that does not follow the protocol."""


@dataclass
class _Task:
    """Rows [start, stop) to label with some programs."""

    start: int
    stop: int
    programs: tuple[int, ...]
    id: int = 0

    def pieces(self) -> list[_Task]:
        """The next bisection level: single rows, else single programs, else nothing left."""
        if self.stop - self.start > 1:
            return [_Task(row, row + 1, self.programs) for row in range(self.start, self.stop)]
        if len(self.programs) > 1:
            return [_Task(self.start, self.stop, (p,)) for p in self.programs]
        return []


@dataclass
class _Job:
    """One apply() call: the encoded rows, the work queue and the results so far."""

    rows_json: list[bytes]
    n_programs: int
    progress: Callable[[int], None] | None
    tasks: deque[_Task] = field(default_factory=deque)

    def __post_init__(self) -> None:
        n, m = len(self.rows_json), self.n_programs
        self.votes = np.full((n, m), -1, dtype=np.int8)
        self.counts = np.zeros((len(_COUNT_KEYS), m), dtype=np.int64)
        self.outstanding = np.zeros(n, dtype=np.int64)  # per row: (row, program) pairs not done

    def plan(self, programs: tuple[int, ...], chunk_size: int) -> None:
        """Queue row chunks for the given programs (with none, every row is done at once)."""
        n = len(self.rows_json)
        self.outstanding[:] = len(programs)
        if not programs:
            if n and self.progress is not None:
                self.progress(n)
            return
        for start in range(0, n, chunk_size):
            self.tasks.append(_Task(start, min(start + chunk_size, n), programs))

    def record(self, task: _Task, votes: np.ndarray, counts: np.ndarray) -> None:
        columns = list(task.programs)
        self.votes[task.start : task.stop, columns] = votes
        self.counts[:, columns] += counts
        self._finish(task)

    def retry(self, task: _Task) -> None:
        """Requeue a task whose worker failed, one bisection level down; a lone pair times out."""
        pieces = task.pieces()
        if pieces:
            self.tasks.extendleft(reversed(pieces))
        else:
            self._time_out(task)

    def retry_without(self, task: _Task, program: int, row: int) -> None:
        """Requeue a task but for one (row, program) call that would not stop: a timeout."""
        self._time_out(_Task(row, row + 1, (program,)))
        others = tuple(p for p in task.programs if p != program)
        pieces = [
            _Task(task.start, task.stop, others),
            _Task(task.start, row, (program,)),
            _Task(row + 1, task.stop, (program,)),
        ]
        self.tasks.extendleft(reversed([p for p in pieces if p.programs and p.stop > p.start]))

    def _time_out(self, task: _Task) -> None:
        """Count a timeout for a single (row, program) task and finish it."""
        self.counts[_COUNT_KEYS.index("timeouts"), task.programs[0]] += 1
        self._finish(task)

    def _finish(self, task: _Task) -> None:
        remaining = self.outstanding[task.start : task.stop]
        remaining -= len(task.programs)
        done = int(np.count_nonzero(remaining == 0))
        if done and self.progress is not None:
            self.progress(done)

    def result(self, load_errors: list[str | None]) -> ApplyResult:
        for program, error in enumerate(load_errors):
            if error is not None:
                self.votes[:, program] = -1
                self.counts[:, program] = 0
        exceptions, timeouts, invalid = self.counts
        return ApplyResult(self.votes, exceptions, timeouts, invalid, list(load_errors))


class _Worker:
    """One sandbox process, spoken to over non-blocking framed pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *_WORKER_FLAGS, str(_WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=_WORKER_ENV,
            start_new_session=True,  # a terminal's Ctrl-C must not reach the programs
        )
        self.reader = self.proc.stdout.fileno()
        self.writer = self.proc.stdin.fileno()
        os.set_blocking(self.writer, False)
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.task: _Task | None = None
        self.max_body = _MAX_HEADER_BYTES
        self.last_heard = time.monotonic()
        self.broken = False  # its stdin failed: treat as stalled

    def send(self, body: bytes) -> None:
        self.outbox += _LENGTH.pack(len(body)) + body
        self.flush()

    def flush(self) -> None:
        """Write as much of the outbox as the pipe takes now (raises OSError if the worker died)."""
        try:
            written = os.write(self.writer, self.outbox)
        except BlockingIOError:
            return
        del self.outbox[:written]

    def receive(self) -> bool:
        """Read what the worker has sent; False at end of file (the worker died)."""
        data = os.read(self.reader, 1 << 20)
        if data:
            self.inbox += data
            self.last_heard = time.monotonic()
        return bool(data)

    def frames(self) -> Iterator[bytes]:
        """Complete non-heartbeat frame bodies received so far."""
        while len(self.inbox) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self.inbox)
            if length > self.max_body:
                raise _ProtocolError(f"frame of {length} bytes")
            end = _LENGTH.size + length
            if len(self.inbox) < end:
                return
            body = bytes(self.inbox[_LENGTH.size : end])
            del self.inbox[:end]
            if body:
                yield body

    def stalled(self, limit: float) -> bool:
        return self.broken or time.monotonic() - self.last_heard > limit

    def close_pipes(self) -> None:
        """Close both pipes; an idle worker exits when it reads the end of its input."""
        self.proc.stdin.close()
        self.proc.stdout.close()

    def kill(self) -> None:
        """Kill the worker and anything it forked (its own session), then reap it."""
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.close_pipes()
        self.proc.wait()


def _stop_all(slots: list[_Worker | None]) -> None:
    """Let every worker exit on end of input; kill and reap those still running after a grace."""
    workers = [worker for worker in slots if worker is not None]
    slots[:] = [None] * len(slots)
    for worker in workers:
        worker.close_pipes()
    deadline = time.monotonic() + _EXIT_GRACE_S
    for worker in workers:
        try:
            worker.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            worker.kill()


def _wait_readable(workers: list[_Worker], timeout: float) -> list[_Worker]:
    """Flush pending writes and wait up to timeout; the workers that have data (or EOF) to read."""
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            selector.register(worker.reader, selectors.EVENT_READ, (worker, True))
            if worker.outbox:
                selector.register(worker.writer, selectors.EVENT_WRITE, (worker, False))
        ready = selector.select(max(timeout, 0.0))
    readable = []
    for key, _ in ready:
        worker, is_read = key.data
        if is_read:
            readable.append(worker)
        else:
            try:
                worker.flush()
            except OSError:
                worker.broken = True
    return readable


def _parse_header(body: bytes) -> tuple[dict, bytes]:
    head, _, payload = body.partition(b"\n")
    try:
        header = json.loads(head)
    except (ValueError, RecursionError) as error:
        raise _ProtocolError("bad header") from error
    if not isinstance(header, dict):
        raise _ProtocolError("header is not an object")
    return header, payload


def _is_int(value: object) -> bool:
    return type(value) is int


def _parse_stuck(stuck: object, task: _Task) -> tuple[int, int]:
    """(program, absolute row) of a call the worker reports as stuck, validated."""
    if not isinstance(stuck, dict):
        raise _ProtocolError("bad stuck report")
    program, row = stuck.get("program"), stuck.get("row")
    if not (_is_int(program) and program in task.programs):
        raise _ProtocolError("stuck report for another program")
    if not (_is_int(row) and 0 <= row < task.stop - task.start):
        raise _ProtocolError("stuck report for another row")
    return program, task.start + row


def _parse_result(
    header: dict, payload: bytes, task: _Task, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Votes (rows, programs) and counts (3, programs) from a result frame, fully validated."""
    rows, programs = task.stop - task.start, len(task.programs)
    if header.get("task") != task.id or not _is_int(header.get("task")):
        raise _ProtocolError("result for another task")
    counts = [header.get(key) for key in _COUNT_KEYS]
    if not all(
        isinstance(c, list) and len(c) == programs and all(_is_int(v) and v >= 0 for v in c)
        for c in counts
    ):
        raise _ProtocolError("bad counts")
    if len(payload) != rows * programs:
        raise _ProtocolError("bad vote payload size")
    votes = np.frombuffer(payload, dtype=np.int8).reshape(programs, rows).T
    count_array = np.array(counts, dtype=np.int64)
    if votes.size and (votes.min() < -1 or votes.max() >= n_classes):
        raise _ProtocolError("vote out of range")
    if (count_array.sum(axis=0) > (votes == -1).sum(axis=0)).any():
        raise _ProtocolError("more failed calls than abstains")
    return votes, count_array


class ProgramPool:
    """Worker processes holding m loaded labeling programs; apply() labels inputs with all of them.

    A program is Python source defining `label(x) -> int`: a class index in [0, n_classes - 1],
    or -1 to abstain. Programs may import only the modules in `_sandbox_worker.ALLOWED_MODULES`.
    Use as a context manager, or call close(); apply() may be called any number of times.
    """

    def __init__(
        self,
        sources: Sequence[str],
        n_classes: int,
        *,
        workers: int = 2,
        call_timeout: float = 1.0,
        memory_mb: int = 2048,
        chunk_size: int = 512,
    ) -> None:
        if not 1 <= n_classes <= 127:
            raise ValueError(f"n_classes must be in [1, 127], got {n_classes}")
        if workers < 1 or chunk_size < 1 or call_timeout <= 0 or memory_mb < 1:
            raise ValueError("workers, chunk_size, call_timeout and memory_mb must be positive")
        self._sources = list(sources)
        if not all(isinstance(source, str) for source in self._sources):
            raise TypeError("program sources must be str")
        self._n_classes = n_classes
        self._chunk_size = chunk_size
        self._memory_mb = int(memory_mb)
        self._call_timeout = call_timeout
        self._load_budget = max(call_timeout, _MIN_LOAD_BUDGET_S)
        self._tick = min(max(call_timeout / 4, 0.01), _MAX_TICK_S)
        self._load_errors: list[str | None] = [None] * len(self._sources)
        self._next_task_id = 0
        self._slots: list[_Worker | None] = [None] * workers
        self._finalizer = weakref.finalize(self, _stop_all, self._slots)
        try:
            for index in range(workers):
                self._slots[index] = self._spawn()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop all workers and reap them. Idempotent."""
        self._finalizer()

    def apply(self, inputs: Sequence, progress: Callable[[int], None] | None = None) -> ApplyResult:
        """Votes of every program on every input (JSON-serializable values).

        progress(k), if given, is called with the number of rows just finished.
        """
        if not self._finalizer.alive:
            raise RuntimeError("the ProgramPool is closed")
        rows_json = [_ROW_ENCODER.encode(row).encode("ascii") for row in inputs]
        job = _Job(rows_json, len(self._sources), progress)
        job.plan(self._loaded_programs(), self._chunk_size)
        try:
            self._run(job)
        except BaseException:
            self._discard_busy_workers()
            raise
        return job.result(self._load_errors)

    def _loaded_programs(self) -> tuple[int, ...]:
        return tuple(i for i, error in enumerate(self._load_errors) if error is None)

    def _call_stall_limit(self) -> float:
        return self._call_timeout + self._tick + _STALL_GRACE_S

    def _run(self, job: _Job) -> None:
        """Dispatch tasks and collect results until the job is done."""
        limit = self._call_stall_limit()
        while job.tasks or self._busy():
            self._dispatch(job)
            busy = self._busy()
            if not busy:
                continue
            wait = min(worker.last_heard + limit for worker in busy) - time.monotonic()
            for worker in _wait_readable(busy, wait):
                self._collect(worker, job)
            for worker in self._busy():
                if worker.stalled(limit):
                    self._fail(worker, job)

    def _busy(self) -> list[_Worker]:
        return [w for w in self._slots if w is not None and w.task is not None]

    def _dispatch(self, job: _Job) -> None:
        """Give each idle worker a task, starting replacement workers as needed."""
        for index, worker in enumerate(self._slots):
            if not job.tasks:
                return
            if worker is None:
                worker = self._slots[index] = self._spawn()
            if worker.task is None:
                self._assign(worker, job.tasks.popleft(), job)

    def _assign(self, worker: _Worker, task: _Task, job: _Job) -> None:
        self._next_task_id += 1
        task.id = self._next_task_id
        header = json.dumps({"task": task.id, "programs": list(task.programs)}).encode()
        worker.task = task
        worker.max_body = _MAX_HEADER_BYTES + (task.stop - task.start) * len(task.programs)
        worker.last_heard = time.monotonic()
        try:
            worker.send(b"\n".join([header, *job.rows_json[task.start : task.stop]]))
        except OSError:  # it died while idle: the task never ran, so requeue it unchanged
            worker.task = None
            self._fail(worker, job)
            job.tasks.appendleft(task)

    def _collect(self, worker: _Worker, job: _Job) -> None:
        """Read from a worker and record its result; a dead or misbehaving worker fails its task."""
        try:
            if not worker.receive():
                raise _ProtocolError("worker exited")
            for body in worker.frames():
                if worker.task is None:
                    raise _ProtocolError("result without a task")
                header, payload = _parse_header(body)
                if "stuck" in header:
                    self._fail(worker, job, _parse_stuck(header["stuck"], worker.task))
                    return
                votes, counts = _parse_result(header, payload, worker.task, self._n_classes)
                job.record(worker.task, votes, counts)
                worker.task = None
        except (_ProtocolError, OSError):
            self._fail(worker, job)

    def _fail(self, worker: _Worker, job: _Job, stuck: tuple[int, int] | None = None) -> None:
        """Kill a worker (replaced on the next dispatch) and requeue its task: without the stuck
        (program, row) call if the worker named one, else one bisection level down."""
        worker.kill()
        self._slots[self._slots.index(worker)] = None
        if worker.task is None:
            return
        if stuck is None:
            job.retry(worker.task)
        else:
            job.retry_without(worker.task, *stuck)

    def _discard_busy_workers(self) -> None:
        """After an interrupted apply(): kill workers whose results would arrive late."""
        for index, worker in enumerate(self._slots):
            if worker is not None and worker.task is not None:
                worker.kill()
                self._slots[index] = None

    def _spawn(self) -> _Worker:
        """A started worker with the programs loaded.

        A program that crashes or hangs the worker while loading gets a load error, and the
        start is retried without it.
        """
        while True:
            worker = _Worker()
            try:
                if self._handshake(worker):
                    return worker
            except BaseException:
                worker.kill()
                raise

    def _handshake(self, worker: _Worker) -> bool:
        """Send the programs; False (worker killed) if one of them crashed it while loading."""
        pending = self._loaded_programs()
        skip = [i for i, error in enumerate(self._load_errors) if error is not None]
        try:
            worker.send(json.dumps(self._init_message(skip)).encode())
        except OSError:
            pass  # then no hello comes
        if self._await_message(worker, _STARTUP_LIMIT_S) != {"hello": True}:
            raise RuntimeError("a sandbox worker failed to start")
        return self._load_into(worker, pending)

    def _init_message(self, skip: list[int]) -> dict:
        return {
            "sources": self._sources,
            "skip": skip,
            "n_classes": self._n_classes,
            "call_timeout": self._call_timeout,
            "load_timeout": self._load_budget,
            "tick": self._tick,
            "memory_mb": self._memory_mb,
        }

    def _load_into(self, worker: _Worker, pending: tuple[int, ...]) -> bool:
        """Read the load report of each pending program; False (worker killed) if one crashed it."""
        limit = self._load_budget + self._tick + _STALL_GRACE_S
        for program in pending:
            message = self._await_message(worker, limit)
            if message is None or message.get("program") != program:
                worker.kill()
                self._load_errors[program] = _CRASHED_WHILE_LOADING
                return False
            error = message.get("error")
            if error is not None:
                self._load_errors[program] = str(error)[:_MAX_ERROR_CHARS]
        return True

    @staticmethod
    def _await_message(worker: _Worker, limit: float) -> dict | None:
        """The next message header from one worker, or None if it dies, stalls or misbehaves."""
        worker.last_heard = time.monotonic()
        try:
            while True:
                for body in worker.frames():
                    return _parse_header(body)[0]
                if worker.stalled(limit):
                    return None
                wait = worker.last_heard + limit - time.monotonic()
                if _wait_readable([worker], wait) and not worker.receive():
                    return None
        except (_ProtocolError, OSError):
            return None
