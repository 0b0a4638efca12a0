"""Sandbox worker: runs untrusted labeling programs on behalf of `sandbox.ProgramPool`.

A standalone, standard-library-only script, started by the parent as
`python -S -s -P _sandbox_worker.py` with the environment `PYTHONHASHSEED=0`; never imported.

Defenses, in the order they are set up: stdout/stderr go to a sink; the allowed modules are
imported; resource limits (address space, no core files, no file writes, no new processes or
file descriptors); an audit hook (`_audit`) that refuses every audited operation except the
worker's own compile and exec of each program source; then programs load with reduced builtins
and a guarded importer. A refused operation raises `SandboxRefusal` in the program and makes the
call count as an exception even if the program catches it.

Protocol. Every message in both directions is a frame: a big-endian u32 body length, then the body.
  parent -> worker
    1st: JSON {"sources", "skip", "n_classes", "call_timeout", "load_timeout", "tick", "memory_mb"}
    then one per task: JSON header {"task": id, "programs": [index, ...]}, then b"\\n" and the rows,
      one JSON text each, joined by b"\\n". End of input means: exit.
  worker -> parent
    body length 0: heartbeat (sent while calls make progress within their time budget).
    otherwise: JSON header, b"\\n", payload:
      {"hello": true} once resource limits are in place;
      {"program": i, "error": str | null} after loading each program not in "skip";
      {"task": id, "exceptions": [...], "timeouts": [...], "invalid": [...]} per task (one count
      per task program), payload = int8 votes, program-major (programs x rows), -1 = abstain;
      or, instead, {"stuck": {"program": i, "row": r}} (r counts from the task's first row) when
      a call keeps running STUCK_TICKS ticks past its budget, swallowing every interrupt; the
      worker exits right after it, and the parent reruns the rest of the task elsewhere.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import resource
import signal
import struct
import sys
import time
import types

ALLOWED_MODULES = frozenset(
    {
        "re",
        "math",
        "string",
        "collections",
        "collections.abc",
        "itertools",
        "functools",
        "statistics",
        "unicodedata",
    }
)
SAFE_BUILTINS = (
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "hasattr",
    "hash",
    "hex",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "ord",
    "pow",
    "print",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "zip",
    "Ellipsis",
    "NotImplemented",
    "__build_class__",
)
MAX_ERROR_CHARS = 500
STUCK_TICKS = 3  # ticks an overrunning call may go on swallowing interrupts before the worker quits

_LENGTH = struct.Struct(">I")
_HEARTBEAT = _LENGTH.pack(0)
_RAISED = object()
_INVALID = object()

# State shared with the SIGALRM handler. Module globals are the cheapest to update per call, so a
# call only bumps _calls and sets _active; the handler times it from the first tick that sees it.
_channel = -1  # protocol fd (the original stdout)
_ticking = False  # the periodic timer is armed (during a task or the load phase)
_budget = 1.0  # seconds one call may take
_tick = 0.25  # seconds between SIGALRMs
_active = False  # a program call is running
_calls = 0  # calls started so far: a change between ticks proves progress
_calls_at_last_tick = 0
_call_seen_at = 0.0  # when a tick first saw the current _calls value
_expired = False  # the last call overran its budget
_column_program = -1  # the program a task is calling now (-1 while loading)
_calls_before_column = 0  # _calls when that program's column started: locates the current row

# State of the audit hook.
_compiling = False  # the worker itself is compiling a program source
_exec_permit: object = None  # the one code object the worker may exec next (a program's module)
_refused = ""  # the last refused audit event since the last call's outcome was taken


class _CallTimeout(BaseException):
    """Raised into a program call that overran its time budget."""


class SandboxRefusal(RuntimeError):
    """Raised into a program that attempted an audited operation."""


class _Sink:
    """Text stream that discards everything written to it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _on_tick(signum: int, frame: object) -> None:
    """Periodic SIGALRM: heartbeat while calls progress within budget; interrupt overrunning calls.

    A call is interrupted between budget and budget + 2 ticks after it started (again at every
    tick if it swallows the exception; after STUCK_TICKS more, the worker reports it and exits).
    Code stuck outside any call (a finalizer, say) or a call over budget sends no heartbeat, so
    the parent kills the worker.
    """
    global _calls_at_last_tick, _call_seen_at, _expired
    if not _ticking:
        return
    now = time.monotonic()
    progressed = _calls != _calls_at_last_tick
    if progressed:
        _calls_at_last_tick = _calls
        _call_seen_at = now
    overrun = _active and now - _call_seen_at >= _budget
    if progressed or (_active and not overrun):
        try:
            os.write(_channel, _HEARTBEAT)
        except OSError:
            os._exit(1)  # the parent is gone
    if overrun:
        _expired = True
        if _column_program >= 0 and now - _call_seen_at >= _budget + STUCK_TICKS * _tick:
            _give_up()
        raise _CallTimeout


def _give_up() -> None:
    """Tell the parent which call will not stop, then exit: the program swallows every interrupt."""
    row = _calls - _calls_before_column - 1
    _send({"stuck": {"program": _column_program, "row": row}})
    os._exit(0)


def _audit(event: str, args: tuple) -> None:
    """Audit hook: refuse every audited event but the worker's own loading of program sources.

    Plain labeling code raises no audit events. What does is refused: open, socket.*,
    subprocess.Popen, os.system/exec*/spawn*/posix_spawn/fork/kill, ctypes.*, import (every
    allowed module is already loaded, and loaded modules raise no event), compile/exec/eval,
    sys._getframe, object.__getattr__ (code and frame attributes), marshal, pickle, sys.settrace,
    sys.addaudithook and the rest. The exceptions: while the worker compiles a source (no program
    code runs then), "compile" and "open" (a SyntaxError looks for its "<program i>" file); and
    "exec" of the code object that compile produced, once.
    """
    global _exec_permit, _refused
    if _compiling and event in ("compile", "open"):
        return
    if event == "exec" and args[0] is _exec_permit:
        _exec_permit = None
        return
    _refused = event
    raise SandboxRefusal(f"the sandbox refused {event!r}")


def _take_refused() -> str:
    """The event refused since the last call's outcome was taken, or "" (then clears it)."""
    global _refused
    refused, _refused = _refused, ""
    return refused


def _start_ticking(budget: float, tick: float) -> None:
    global _ticking, _budget, _tick
    _budget, _tick = budget, tick
    _ticking = True
    signal.setitimer(signal.ITIMER_REAL, tick, tick)


def _stop_ticking() -> None:
    global _ticking
    _ticking = False
    signal.setitimer(signal.ITIMER_REAL, 0, 0)


def _timed_call(fn, arg):
    """fn(arg) under the call budget: its result, or _RAISED; sets _expired if it overran."""
    global _active, _calls
    _calls += 1
    _active = True
    try:
        try:
            result = fn(arg)
        finally:
            _active = False
    except BaseException:  # noqa: BLE001 - programs may raise anything, SystemExit included
        result = _RAISED
    _active = False
    return result


def _take_expired() -> bool:
    """Whether the last call overran its budget (then clears the flag)."""
    global _expired
    expired, _expired = _expired, False
    return expired


def _redirect_output() -> int:
    """Keep the real stdout as the protocol channel; send fds 1, 2 and sys.stdout/err to a sink."""
    channel = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stdout = sys.stderr = _Sink()
    return channel


def _lower_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _limit_resources(memory_mb: int, channel: int) -> None:
    """Cap memory; forbid core dumps, file writes, new processes and new file descriptors."""
    _lower_limit(resource.RLIMIT_AS, memory_mb * 2**20)
    _lower_limit(resource.RLIMIT_CORE, 0)
    _lower_limit(resource.RLIMIT_FSIZE, 0)
    _lower_limit(resource.RLIMIT_NPROC, 0)
    _lower_limit(resource.RLIMIT_NOFILE, channel + 1)


def _read_frame() -> bytes | None:
    """Next frame body from the parent, or None at end of input."""
    prefix = sys.stdin.buffer.read(_LENGTH.size)
    if len(prefix) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(prefix)
    body = sys.stdin.buffer.read(length)
    return body if len(body) == length else None


def _send(header: dict, payload: bytes = b"") -> None:
    """Write one frame; SIGALRM is blocked meanwhile so no heartbeat lands inside it."""
    body = json.dumps(header).encode() + b"\n" + payload
    data = memoryview(_LENGTH.pack(len(body)) + body)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        while data:
            data = data[os.write(_channel, data) :]
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _module_proxy(name: str) -> types.ModuleType:
    """A fresh module object holding only the public, non-module attributes of an allowed module."""
    module = sys.modules[name]
    proxy = types.ModuleType(name)
    public = getattr(module, "__all__", None) or [a for a in dir(module) if not a.startswith("_")]
    for attr in public:
        value = getattr(module, attr, None)
        if value is not None and not isinstance(value, types.ModuleType):
            setattr(proxy, attr, value)
    for child in ALLOWED_MODULES:
        parent, _, leaf = child.rpartition(".")
        if parent == name:
            setattr(proxy, leaf, _module_proxy(child))
    return proxy


def _guarded_importer():
    """An __import__ that serves per-program proxies of the allowed modules and refuses the rest."""
    proxies: dict[str, types.ModuleType] = {}

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name not in ALLOWED_MODULES:
            raise ImportError(f"import of {name!r} is not allowed in labeling programs")
        top, *path = name.split(".")
        if top not in proxies:
            proxies[top] = _module_proxy(top)
        module = proxies[top]
        if not fromlist:
            return module
        for part in path:
            module = getattr(module, part)
        return module

    return guarded_import


def _restricted_builtins() -> dict:
    """Builtins for one program: the safe allowlist, every exception class, a guarded __import__."""
    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    table.update(
        (name, value)
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    )
    table["__import__"] = _guarded_importer()
    return table


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def _permitted_code(source: str, filename: str) -> types.CodeType:
    """Compile a program source; the audit hook lets this compile and one exec of its code pass."""
    global _compiling, _exec_permit
    _compiling = True
    try:
        code = compile(source, filename, "exec")
    finally:
        _compiling = False
    _exec_permit = code
    return code


def _load_program(index: int, source: str):
    """Run a program's module code under the load budget: (label function, None) or (None, error)."""
    namespace = {"__builtins__": _restricted_builtins(), "__name__": f"program_{index}"}

    def run_module(source: str):
        try:
            exec(_permitted_code(source, f"<program {index}>"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - formatted inside the timed call on purpose
            return _describe(error)
        label = namespace.get("label")
        return label if callable(label) else "TypeError: the program defines no callable label(x)"

    outcome = _timed_call(run_module, source)
    refused = _take_refused()
    if _take_expired():
        return None, f"TimeoutError: loading took longer than {_budget:g} s"
    if refused:
        return None, f"SandboxRefusal: the sandbox refused {refused!r}"
    if outcome is _RAISED:
        return None, "BaseException: loading raised SystemExit, KeyboardInterrupt or similar"
    if type(outcome) is str:
        return None, outcome
    return outcome, None


def _load_programs(config: dict) -> dict[int, object]:
    """Load every program not in config["skip"], reporting each outcome to the parent."""
    skip = set(config["skip"])
    programs = {}
    _start_ticking(config["load_timeout"], config["tick"])
    for index, source in enumerate(config["sources"]):
        if index in skip:
            continue
        label, error = _load_program(index, source)
        if label is not None:
            programs[index] = label
        _send({"program": index, "error": error})
    _stop_ticking()
    return programs


def _as_vote(value: object, n_classes: int) -> object:
    """A returned value as a vote, or _INVALID unless it is a non-bool int in [-1, k-1]."""
    kind = type(value)
    if kind is not int:
        if kind is bool or not issubclass(kind, int):
            return _INVALID
        value = int.__index__(value)  # the plain int, without running an overridden method
    return value if -1 <= value < n_classes else _INVALID


def _label_column(label, n_classes: int, rows: list, raw_rows: list[bytes], fresh_copies: bool):
    """One program over all rows: (int8 votes, exceptions, timeouts, invalid).

    The per-row call is `_timed_call` inlined (it is the hot loop); the returned object is
    validated and dropped inside the timed region, so its finalizers are timed too.
    """
    global _active, _calls, _expired, _refused
    votes = bytearray(b"\xff" * len(rows))
    exceptions = timeouts = invalid = 0
    for r, x in enumerate(rows):
        if fresh_copies and isinstance(x, (dict, list)):
            x = json.loads(raw_rows[r])  # a program must not see another program's mutations
        _calls += 1
        _active = True
        try:
            try:
                vote = label(x)
                if type(vote) is not int or not -1 <= vote < n_classes:
                    vote = _as_vote(vote, n_classes)
            finally:
                _active = False
        except BaseException:  # noqa: BLE001 - programs may raise anything, SystemExit included
            vote = _RAISED
        _active = False
        if _expired:
            _expired = False
            _refused = ""
            timeouts += 1
        elif _refused or vote is _RAISED:
            _refused = ""
            exceptions += 1
        elif vote is _INVALID:
            invalid += 1
        else:
            votes[r] = vote & 0xFF
    return votes, exceptions, timeouts, invalid


def _watch_column(program: int) -> None:
    """Note which program is about to label the task's rows (for `_give_up`)."""
    global _column_program, _calls_before_column
    _column_program, _calls_before_column = program, _calls


def _run_task(body: bytes, programs: dict, config: dict) -> tuple[dict, bytes]:
    """Apply the task's programs to its rows: the result header and the program-major votes."""
    head, *raw_rows = body.split(b"\n")
    task = json.loads(head)
    rows = json.loads(b"[" + b",".join(raw_rows) + b"]")
    header = {"task": task["task"], "exceptions": [], "timeouts": [], "invalid": []}
    columns = []
    _start_ticking(config["call_timeout"], config["tick"])
    for position, index in enumerate(task["programs"]):
        label = programs.get(index)
        if label is None:  # failed to load in this worker: abstain, count nothing
            columns.append(b"\xff" * len(rows))
            counts = (0, 0, 0)
        else:
            _watch_column(index)
            votes, *counts = _label_column(
                label, config["n_classes"], rows, raw_rows, fresh_copies=position > 0
            )
            columns.append(votes)
        for key, count in zip(("exceptions", "timeouts", "invalid"), counts):
            header[key].append(count)
    _stop_ticking()
    return header, b"".join(columns)


def main() -> None:
    global _channel
    _channel = _redirect_output()
    for name in sorted(ALLOWED_MODULES):
        importlib.import_module(name)  # now, while files may still be opened
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_tick)
    first = _read_frame()
    if first is None:
        return
    config = json.loads(first)
    _limit_resources(config["memory_mb"], _channel)
    sys.addaudithook(_audit)
    _send({"hello": True})
    programs = _load_programs(config)
    while (body := _read_frame()) is not None:
        _send(*_run_task(body, programs, config))


if __name__ == "__main__":
    main()
