"""Sandbox worker: runs ONE untrusted labeling program on behalf of `sandbox.ProgramPool`.

A standalone, standard-library-only module, loaded from its file and run (`main()`) by a
one-line bootstrap, `python -S -s -P -c ... _sandbox_worker.py` (loaded, not run as a script, so
its bytecode is cached), with an environment holding only `PYTHONHASHSEED=0` and, as cwd, an
empty temporary directory that the parent removes once the worker runs; never imported by the
parent. One process runs one program: nothing another program did can reach it.

Set-up, in order, before any program code runs:
  1. stdout is kept as the protocol channel; fds 1 and 2 go to /dev/null, sys.stdout/err to a sink.
  2. The modules of the import policy (`program_policy.json` beside this file) are imported and
     the shared vote buffer (an inherited fd) is mapped.
  3. The parent's config frame is read.
  4. OS layers (`_isolate`, Linux): a new network namespace where permitted;
     PR_SET_NO_NEW_PRIVS; Landlock with no filesystem access where the kernel has it.
  5. Resource limits: address space (twice the memory limit: the parent kills a process whose
     resident memory passes it), no core files, no file writes, no new processes, no new
     file descriptors (the parent sets RLIMIT_CPU from outside).
  6. The last OS layer (`_filter_syscalls`): a seccomp-BPF filter, default deny (EPERM), that
     allows only memory management, reading the parent's pipe, writing the protocol channel,
     and exiting (`_seccomp_rules`); other architectures' calls kill the process.
  7. An audit hook refuses every audited event except the worker's own compile/exec of the
     program source (a second, Python-level layer: it turns attempts into counted exceptions).
  8. The program loads with the policy's builtins and an importer that serves fresh module
     proxies holding only the policy's attributes.

Protocol: every message is a frame, a big-endian u32 body length, then the body.
  parent -> worker: 1st frame: JSON config {"source", "n_classes", "memory_mb", "buffer_fd",
    "buffer_rows", "confine", "escape_hatch"}; then one frame per chunk: a JSON array of rows
    (at most buffer_rows). End of input: exit.
  worker -> parent: JSON {"ready": {"seccomp": bool, "landlock": bool, "netns": bool}} once
    contained; {"loaded": null | error string} after running the program's module code;
    {"done": n} after each chunk of n rows.
Shared buffer (mapped from buffer_fd): native u32 `started`, u32 `exceptions`, u32 `invalid`,
then one int8 vote per row of the chunk. `started` is set to i + 1 before the call on row i and
the vote is stored after it, so the parent times each call from outside this process (it kills
the process when `started` stops moving) and keeps the votes of the rows before a hung one.
"""

from __future__ import annotations

import builtins
import importlib
import json
import mmap
import os
import platform
import resource
import signal
import struct
import sys
import types

_POLICY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "program_policy.json")
_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct("=III")  # started, exceptions, invalid
MAX_ERROR_CHARS = 500
_RAISED = object()
_INVALID = object()

# State of the audit hook.
_compiling = False  # the worker itself is compiling the program source
_exec_permit: object = None  # the one code object the worker may exec next (the program's module)
_refused = ""  # the last refused audit event since the last call's outcome was taken


class SandboxRefusal(RuntimeError):
    """Raised into a program that attempted an audited operation."""


class _Sink:
    """Text stream that discards everything written to it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# OS containment (Linux)
# ---------------------------------------------------------------------------------------------
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_EPERM = 1
_PROT_EXEC = 4
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO_EPERM = 0x00050000 | _EPERM
_RET_KILL_PROCESS = 0x80000000
# seccomp_data: int nr (offset 0), u32 arch (4), u64 instruction_pointer (8), u64 args[6] (16).
_NR_OFFSET, _ARCH_OFFSET, _ARGS_OFFSET = 0, 4, 16
# BPF opcodes: BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_JMP|BPF_JSET|BPF_K,
# BPF_JMP|BPF_JGE|BPF_K, BPF_RET|BPF_K.
_LD, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_X32_SYSCALL_BIT = 0x40000000

# Syscall numbers per architecture (audit arch, {name: number}). Only allowed calls are named:
# everything else (open*, socket, connect, execve, fork, clone*, kill, tgkill, ptrace,
# process_vm_*, prctl, seccomp, unshare, mount, ioctl, ...) gets EPERM.
_ARCHES = {
    "x86_64": (0xC000003E, {
        "read": 0, "write": 1, "close": 3, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
        "rt_sigprocmask": 14, "rt_sigreturn": 15, "sched_yield": 24, "mremap": 25, "madvise": 28,
        "getpid": 39, "exit": 60, "gettimeofday": 96, "gettid": 186, "futex": 202,
        "restart_syscall": 219, "clock_gettime": 228, "clock_getres": 229, "exit_group": 231,
    }),
    "aarch64": (0xC00000B7, {
        "read": 63, "write": 64, "close": 57, "mmap": 222, "mprotect": 226, "munmap": 215,
        "brk": 214, "rt_sigprocmask": 135, "rt_sigreturn": 139, "sched_yield": 124,
        "mremap": 216, "madvise": 233, "getpid": 172, "exit": 93, "gettimeofday": 169,
        "gettid": 178, "futex": 98, "restart_syscall": 128, "clock_gettime": 113,
        "clock_getres": 114, "exit_group": 94,
    }),
}
_LANDLOCK_CREATE_RULESET, _LANDLOCK_RESTRICT_SELF = 444, 446  # the same on every architecture
_LANDLOCK_CREATE_RULESET_VERSION = 1


def _seccomp_rules(channel: int) -> dict[str, tuple[str, int, int] | None]:
    """Allowed syscalls: None = always; ("fd", arg, value) = only when args[arg] == value;
    ("clear", arg, mask) = only when args[arg] & mask == 0."""
    rules: dict[str, tuple[str, int, int] | None] = dict.fromkeys(
        ("close", "munmap", "brk", "rt_sigprocmask", "rt_sigreturn", "sched_yield", "mremap",
         "madvise", "getpid", "exit", "gettimeofday", "gettid", "futex", "restart_syscall",
         "clock_gettime", "clock_getres", "exit_group"))
    rules["read"] = ("fd", 0, 0)  # the parent's pipe only
    rules["write"] = ("fd", 0, channel)  # the protocol channel only
    rules["mmap"] = ("clear", 2, _PROT_EXEC)  # no new executable memory
    rules["mprotect"] = ("clear", 2, _PROT_EXEC)
    return rules


def seccomp_program(arch: str, channel: int) -> list[tuple[int, int, int, int]]:
    """The BPF filter as (code, jt, jf, k) instructions: default EPERM, foreign ABIs killed."""
    audit_arch, numbers = _ARCHES[arch]
    prog = [
        (_LD, 0, 0, _ARCH_OFFSET),
        (_JEQ, 1, 0, audit_arch),
        (_RET, 0, 0, _RET_KILL_PROCESS),
        (_LD, 0, 0, _NR_OFFSET),
    ]
    if arch == "x86_64":  # x32 syscalls share the arch value: refuse them all
        prog += [(_JGE, 0, 1, _X32_SYSCALL_BIT), (_RET, 0, 0, _RET_KILL_PROCESS)]
    for name, rule in _seccomp_rules(channel).items():
        nr = numbers[name]
        if rule is None:
            prog += [(_JEQ, 0, 1, nr), (_RET, 0, 0, _RET_ALLOW)]
            continue
        kind, arg, value = rule
        check = (_JEQ, 0, 1, value) if kind == "fd" else (_JSET, 1, 0, value)
        prog += [
            (_JEQ, 0, 4, nr),
            (_LD, 0, 0, _ARGS_OFFSET + 8 * arg),  # low 32 bits (little-endian)
            check,
            (_RET, 0, 0, _RET_ALLOW),
            (_RET, 0, 0, _RET_ERRNO_EPERM),
        ]
    prog.append((_RET, 0, 0, _RET_ERRNO_EPERM))
    return prog


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return ctypes, libc


def _enter_network_namespace(libc) -> bool:
    """A new, empty network namespace (no interfaces): as root directly, else in a user namespace."""
    return libc.unshare(_CLONE_NEWNET) == 0 or libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0


def _restrict_landlock(ctypes, libc) -> bool:
    """Landlock: handle every filesystem (and, where known, network and scope) right, grant none."""
    abi = libc.syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 1:
        return False
    fs_bits = {1: 13, 2: 14, 3: 15, 4: 15}.get(abi, 16)  # REFER (v2), TRUNCATE (v3), IOCTL_DEV (v5)
    fields = [(1 << fs_bits) - 1]
    if abi >= 4:
        fields.append(0b11)  # BIND_TCP, CONNECT_TCP
    if abi >= 6:
        fields.append(0b11)  # scope: abstract unix sockets, signals
    attr = (ctypes.c_uint64 * len(fields))(*fields)
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        return libc.syscall(_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


def _install_seccomp(ctypes, libc, arch: str, channel: int) -> bool:
    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]

    program = seccomp_program(arch, channel)
    filters = (SockFilter * len(program))(*program)
    fprog = SockFprog(len(program), filters)
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def _isolate() -> dict[str, bool]:
    """The OS layers set before resource limits: network namespace, no new privileges, Landlock."""
    state = {"seccomp": False, "landlock": False, "netns": False}
    if sys.platform != "linux" or platform.machine() not in _ARCHES:
        return state
    ctypes, libc = _libc()
    state["netns"] = _enter_network_namespace(libc)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        state["landlock"] = _restrict_landlock(ctypes, libc)
        state["seccomp"] = True  # installed last, by _filter_syscalls
    return state


def _filter_syscalls(channel: int) -> bool:
    """The last layer: after it, not even setrlimit or prctl is possible."""
    ctypes, libc = _libc()
    return _install_seccomp(ctypes, libc, platform.machine(), channel)


# ---------------------------------------------------------------------------------------------
# Python-level layers
# ---------------------------------------------------------------------------------------------
def _audit(event: str, args: tuple) -> None:
    """Audit hook: refuse every audited event but the worker's own loading of the program.

    Exceptions: while the worker compiles the source (no program code runs then), "compile" and
    "open" (a SyntaxError looks for its "<program>" file); and "exec" of the code object that
    compile produced, once.
    """
    global _exec_permit, _refused
    if _compiling and event in ("compile", "open"):
        return
    if event == "exec" and args[0] is _exec_permit:
        _exec_permit = None
        return
    _refused = event
    raise SandboxRefusal(f"the sandbox refused {event!r}")


def _load_policy() -> dict:
    with open(_POLICY_FILE, encoding="utf-8") as file:
        return json.load(file)


def _module_proxy(name: str, policy: dict) -> types.ModuleType:
    """A fresh module object holding only the policy's attributes of an allowed module."""
    module = sys.modules[name]
    proxy = types.ModuleType(name)
    for attr in policy["modules"][name]:
        setattr(proxy, attr, getattr(module, attr))
    for child in policy["modules"]:
        parent, _, leaf = child.rpartition(".")
        if parent == name:
            setattr(proxy, leaf, _module_proxy(child, policy))
    return proxy


def _guarded_importer(policy: dict):
    """An __import__ that serves proxies of the policy's modules and refuses the rest."""
    proxies: dict[str, types.ModuleType] = {}

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name not in policy["modules"]:
            raise ImportError(f"import of {name!r} is not allowed in labeling programs")
        top, *path = name.split(".")
        if top not in proxies:
            proxies[top] = _module_proxy(top, policy)
        module = proxies[top]
        if not fromlist:
            return module
        for part in path:
            module = getattr(module, part)
        return module

    return guarded_import


def _restricted_builtins(policy: dict, escape_hatch: dict | None) -> dict:
    """The policy's builtins and exception classes, and the guarded __import__."""
    table = {name: getattr(builtins, name) for name in policy["builtins"]}
    table.update((name, getattr(builtins, name)) for name in policy["exceptions"])
    table["__import__"] = _guarded_importer(policy)
    if escape_hatch is not None:  # tests only: hands the program the real os and libc
        table["__escape__"] = lambda: escape_hatch
    return table


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def _take_refused() -> str:
    global _refused
    refused, _refused = _refused, ""
    return refused


def _load_program(source: str, table: dict):
    """Run the program's module code: (label function, None) or (None, error)."""
    global _compiling, _exec_permit
    namespace = {"__builtins__": table, "__name__": "program"}
    try:
        _compiling = True
        try:
            code = compile(source, "<program>", "exec")
        finally:
            _compiling = False
        _exec_permit = code
        exec(code, namespace)  # noqa: S102 - the untrusted program, contained by the layers above
    except BaseException as error:  # noqa: BLE001 - programs may raise anything, SystemExit included
        refused = _take_refused()
        return None, (f"SandboxRefusal: the sandbox refused {refused!r}" if refused
                      else _describe(error))
    refused = _take_refused()
    if refused:
        return None, f"SandboxRefusal: the sandbox refused {refused!r}"
    label = namespace.get("label")
    if not callable(label):
        return None, "TypeError: the program defines no callable label(x)"
    return label, None


def _as_vote(value: object, n_classes: int) -> object:
    """A returned value as a vote, or _INVALID unless it is a non-bool int in [-1, k-1]."""
    kind = type(value)
    if kind is not int:
        if kind is bool or not issubclass(kind, int):
            return _INVALID
        value = int.__index__(value)  # the plain int, without running an overridden method
    return value if -1 <= value < n_classes else _INVALID


def _label_chunk(label, rows: list, n_classes: int, header: memoryview, votes: memoryview) -> None:
    """Label every row, storing progress, counts and votes in the shared buffer as it goes."""
    global _refused
    exceptions = invalid = 0
    header[1] = header[2] = 0
    for i, x in enumerate(rows):
        header[0] = i + 1
        try:
            vote = label(x)
            if type(vote) is not int or not -1 <= vote < n_classes:
                vote = _as_vote(vote, n_classes)
        except BaseException:  # noqa: BLE001 - programs may raise anything, SystemExit included
            vote = _RAISED
        if _refused or vote is _RAISED:
            _refused = ""
            exceptions += 1
            header[1] = exceptions
            vote = -1
        elif vote is _INVALID:
            invalid += 1
            header[2] = invalid
            vote = -1
        votes[i] = vote


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def _redirect_output() -> int:
    """Keep the real stdout as the protocol channel; send fds 1, 2 and sys.stdout/err to a sink."""
    channel = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stdout = sys.stderr = _Sink()
    return channel


def _read_exactly(size: int) -> bytes:
    chunks = []
    while size:
        data = os.read(0, min(size, 1 << 20))
        if not data:
            return b""
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _read_frame() -> bytes | None:
    """Next frame body from the parent, or None at end of input."""
    prefix = _read_exactly(_LENGTH.size)
    if len(prefix) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(prefix)
    body = _read_exactly(length)
    return body if len(body) == length else None


def _send(channel: int, message: dict) -> None:
    body = json.dumps(message).encode()
    data = memoryview(_LENGTH.pack(len(body)) + body)
    while data:
        data = data[os.write(channel, data):]


def _lower_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _limit_resources(config: dict, channel: int) -> None:
    """Cap memory; forbid core dumps, file writes, new processes and new fds. (The parent sets
    RLIMIT_CPU from outside, per job, with prlimit.)"""
    _lower_limit(resource.RLIMIT_AS, 2 * config["memory_mb"] * 2**20)  # the parent watches RSS
    _lower_limit(resource.RLIMIT_CORE, 0)
    _lower_limit(resource.RLIMIT_FSIZE, 0)
    _lower_limit(resource.RLIMIT_NPROC, 0)
    _lower_limit(resource.RLIMIT_NOFILE, channel + 1)


def main() -> None:
    channel = _redirect_output()
    policy = _load_policy()
    for name in sorted(policy["modules"]):
        importlib.import_module(name)  # now, while files may still be opened
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    first = _read_frame()
    if first is None:
        return
    config = json.loads(first)
    buffer = mmap.mmap(config["buffer_fd"], _HEADER.size + config["buffer_rows"])
    os.close(config["buffer_fd"])
    header = memoryview(buffer)[: _HEADER.size].cast("I")
    votes = memoryview(buffer)[_HEADER.size:].cast("b")
    hatch = None
    if config["escape_hatch"]:
        ctypes, libc = _libc()
        hatch = {"os": os, "ctypes": ctypes, "libc": libc}
    state = {"seccomp": False, "landlock": False, "netns": False}
    if config["confine"]:
        state = _isolate()
    _limit_resources(config, channel)
    if state.get("seccomp"):
        state["seccomp"] = _filter_syscalls(channel)
    if hatch is None:  # with the test-only escape hatch, the program has beaten this layer
        sys.addaudithook(_audit)
    _send(channel, {"ready": state})
    label, error = _load_program(config["source"], _restricted_builtins(policy, hatch))
    _send(channel, {"loaded": error})
    if label is None:
        return
    n_classes = config["n_classes"]
    while (body := _read_frame()) is not None:
        rows = json.loads(body)
        _label_chunk(label, rows, n_classes, header, votes)
        _send(channel, {"done": len(rows)})


if __name__ == "__main__":
    main()
