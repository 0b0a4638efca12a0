"""OS-level containment of program processes, tested by its effects.

Programs here got past every Python-level layer on purpose: through the subclass walk to os's
globals (the audit hook still stands), or through the test-only escape hatch that hands them
the real os and libc with no audit hook (only the OS layers stand). What must hold: no file
created or changed, no connection, no signal to the parent, no secret read, no process left,
other programs' votes unchanged, bounded wall time.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alchemist_runtime.sandbox import ContainmentUnavailable, ProgramPool
from conftest import ESCAPE_TO_OS

LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"
needs_seccomp = pytest.mark.skipif(not LINUX_X86_64, reason="syscall numbers are x86_64's")

SPAM = "def label(x):\n    return 1 if 'free' in x else 0\n"
USES_RE_AND_COUNTER = """
import re
from collections import Counter

WORD = re.compile(r"[a-z]+")


def label(x):
    counts = Counter(WORD.findall(x.lower()))
    return 1 if counts["free"] >= 1 else 0
"""


def apply_once(sources, inputs, n_classes=3, **options):
    with ProgramPool(sources, n_classes, **options) as pool:
        return pool.apply(inputs), dict(pool.containment)


def live_workers() -> set[int]:
    """Pids of this process's live sandbox workers (anything a worker forked would be one too:
    its command line is the worker's; the votes of fork/clone show that as well)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                worker = b"_sandbox_worker.py" in (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if worker and int(fields[1]) == os.getpid() and fields[0] != "Z":
                children.add(int(entry.name))
    return children


# -- syscalls, one by one, from a process whose Python layers are gone ------------------------
SYSCALL_PROGRAM = textwrap.dedent("""
    def label(x):
        hatch = __escape__()
        ctypes, libc = hatch["ctypes"], hatch["libc"]
        nr, *args = CALLS[x]
        args = [ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
        ctypes.set_errno(0)
        result = libc.syscall(ctypes.c_long(nr), *args)
        if result == -1 and ctypes.get_errno() == 1:
            return 0  # EPERM: refused
        return 1 if result >= 0 else 2
""")


def denied_calls(tmp: Path, ppid: int) -> dict[str, tuple]:
    """Name -> (x86_64 number, args...): each would have an effect (or be a first step) if let
    through; the test checks that every effect is absent."""
    existing, created = str(tmp / "existing").encode(), str(tmp / "created").encode()
    AT_FDCWD, O_RDONLY, O_WRONLY_CREAT_TRUNC = -100, 0, 0o1101
    return {
        "open": (2, existing, O_WRONLY_CREAT_TRUNC, 0o644),
        "openat": (257, AT_FDCWD, created, O_WRONLY_CREAT_TRUNC, 0o644),
        "openat_proc_parent": (257, AT_FDCWD, f"/proc/{ppid}/environ".encode(), O_RDONLY),
        "creat": (85, created, 0o644),
        "truncate": (76, existing, 0),
        "unlink": (87, existing),
        "rename": (82, existing, created),
        "mkdir": (83, created, 0o755),
        "chdir": (80, b"/"),
        "getcwd": (79, 0, 0),
        "socket": (41, 2, 1, 0),  # AF_INET, SOCK_STREAM
        "socketpair": (53, 1, 1, 0, 0),
        "connect": (42, 0, 0, 0),
        "execve": (59, b"/bin/true", 0, 0),
        "fork": (57,),
        "vfork": (58,),
        "clone": (56, 17, 0, 0, 0, 0),  # SIGCHLD: a plain fork
        "clone3": (435, 0, 0),
        "kill_parent": (62, ppid, 0),  # signal 0: "may I?"
        "tgkill_parent": (234, ppid, ppid, 0),
        "ptrace_attach": (101, 16, ppid, 0, 0),
        "process_vm_readv": (310, ppid, 0, 0, 0, 0, 0),
        "prctl": (157, 3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
        "seccomp": (317, 0, 0, 0),  # SECCOMP_SET_MODE_STRICT
        "unshare": (272, 0x20000),  # CLONE_NEWNS
        "mount": (165, 0, 0, 0, 0, 0),
        "prlimit64": (302, 0, 0, 0, 0),
        "ioctl_tiocsti": (16, 0, 0x5412, 0),
        "read_other_fd": (0, 5, 0, 0),
        "write_stderr": (1, 2, b"x", 1),
        "mmap_exec": (9, 0, 4096, 5, 0x22, -1, 0),  # PROT_READ|PROT_EXEC, private anonymous
        "mprotect_exec": (10, 0, 4096, 5),
        "memfd_create": (319, b"x", 0),
        "pipe": (22, 0),
        "dup": (32, 0),
        "nanosleep": (35, 0, 0),
        "getppid": (110,),
    }


@needs_seccomp
def test_every_denied_syscall_gets_eperm_and_has_no_effect(tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("untouched")
    calls = denied_calls(tmp_path, os.getpid())
    calls["getpid"] = (39,)  # allowed: proves the filter does not refuse everything
    calls["x32_abi"] = (0x40000000 | 39,)  # another ABI's numbers: the process is killed
    source = f"CALLS = {calls!r}\n" + SYSCALL_PROGRAM
    result, layers = apply_once([source], list(calls), _escape_hatch=True)
    votes = dict(zip(calls, result.votes[:, 0].tolist()))
    assert layers["seccomp"] is True
    assert votes.pop("getpid") == 1
    assert votes.pop("x32_abi") == -1 and result.timeouts.tolist() == [1]  # killed, counted
    assert votes == dict.fromkeys(votes, 0), {k: v for k, v in votes.items() if v != 0}
    assert existing.read_text() == "untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert live_workers() == set()  # every worker reaped; nothing they forked survived


@needs_seccomp
def test_workers_report_every_os_layer():
    _, layers = apply_once([SPAM], ["free"])
    assert set(layers) == {"seccomp", "landlock", "netns"}
    assert layers["seccomp"] is True


# -- attacks through the subclass walk (audit hook and OS layers both stand) -------------------
def test_environment_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    reader = ESCAPE_TO_OS + textwrap.dedent("""
        def label(x):
            names = set(_os()["environ"])  # LC_CTYPE: Python's own C-locale coercion
            return 0 if names <= {"PYTHONHASHSEED", "LC_CTYPE"} else 1
    """)
    result, _ = apply_once([reader], ["a"])
    assert result.votes.tolist() == [[0]]


@needs_seccomp
def test_parent_files_are_unreadable():
    reader = textwrap.dedent(f"""
        def label(x):
            os = __escape__()["os"]
            try:
                fd = os.open("/proc/{os.getpid()}/" + x, 0)
            except Exception:
                return 0
            return 1
    """)
    result, _ = apply_once([reader], ["environ", "cmdline", "cwd/task.yaml", "mem"],
                           _escape_hatch=True)
    assert result.votes[:, 0].tolist() == [0, 0, 0, 0]


POISONERS = [  # each tampers with what a later program in the same interpreter would use
    "_os()['sys'].modules['re'].compile = lambda *a, **k: None",
    "_os()['sys'].modules['collections'].Counter = dict",
    "_os()['sys'].modules['re'].Pattern.findall = None",
]


@pytest.mark.parametrize("poison", POISONERS)
def test_a_program_cannot_poison_another(poison):
    poisoner = ESCAPE_TO_OS + "\ndef label(x):\n    try:\n        " + poison + (
        "\n    except Exception:\n        pass\n    return 1\n")
    inputs = ["free stuff", "hello", "FREE!", "nothing"]
    alone, _ = apply_once([USES_RE_AND_COUNTER], inputs, workers=1)
    beside, _ = apply_once([poisoner, USES_RE_AND_COUNTER], inputs, workers=1)
    assert beside.votes[:, 1].tolist() == alone.votes[:, 0].tolist() == [1, 0, 1, 0]
    assert beside.exceptions[1] == 0


@needs_seccomp
def test_no_connection_leaves_a_program(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        connector = textwrap.dedent("""
            def label(x):
                libc = __escape__()["libc"]
                return 0 if libc.socket(2, 1, 0) == -1 else 1  # AF_INET, SOCK_STREAM
        """)
        walker = ESCAPE_TO_OS + (
            "\ndef label(x):\n    s = _os()['__builtins__']['__import__']('socket')\n"
            f"    s.create_connection(('127.0.0.1', {port}), timeout=1)\n    return 1\n")
        hatched, _ = apply_once([connector], ["a"], _escape_hatch=True)
        walked, _ = apply_once([walker], ["a"])
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()
    assert hatched.votes.tolist() == [[0]]
    assert walked.votes.tolist() == [[-1]] and walked.exceptions.tolist() == [1]


def test_killing_the_parent_fails_and_the_parent_survives():
    killer = ESCAPE_TO_OS + textwrap.dedent("""
        def label(x):
            try:
                _os()["kill"](_os()["getppid"](), 9)
            except Exception:
                return 0
            return 1
    """)
    result, _ = apply_once([killer, SPAM], ["free", "x"])
    # refused, and counted as an exception although caught; this test process is still here
    assert result.votes[:, 0].tolist() == [-1, -1] and result.exceptions[0] == 2
    assert result.votes[:, 1].tolist() == [1, 0]


# -- budgets: the compile with a hostile program stays fast ----------------------------------
def test_a_program_that_always_times_out_is_stopped_after_a_few_calls():
    looping = "def label(x):\n    while True:\n        pass\n"
    started = time.perf_counter()
    result, _ = apply_once([looping, SPAM], [f"free {i}" for i in range(500)],
                           call_timeout=0.1, max_consecutive_timeouts=3)
    elapsed = time.perf_counter() - started
    assert result.stopped[0].startswith("3 calls in a row timed out")
    assert result.timeouts.tolist() == [3, 0] and (result.votes[:, 0] == -1).all()
    assert (result.votes[:, 1] == 1).all() and result.stopped[1] is None
    assert elapsed < 10  # not 500 x 0.1 s


def test_a_slow_program_is_stopped_at_its_time_budget():
    slow = "def label(x):\n    return sum(range(300000)) % 2\n"  # well under the call limit
    started = time.perf_counter()
    result, _ = apply_once([slow, SPAM], [str(i) for i in range(2000)], time_budget_s=0.5)
    elapsed = time.perf_counter() - started
    assert "time budget of 0.5 s" in result.stopped[0]
    assert result.timeouts.tolist() == [0, 0] and result.stopped[1] is None
    assert 0 < (result.votes[:, 0] != -1).sum() < 2000
    assert elapsed < 10


def test_memory_growing_under_the_address_space_limit_is_killed():
    grower = textwrap.dedent("""
        def label(x):
            keep = []
            for _ in range(10000):
                keep.append(" " * 2**20)
                sum(range(20000))
            return 1
    """)
    started = time.perf_counter()
    result, _ = apply_once([grower, SPAM], ["free"], memory_mb=128, call_timeout=20)
    assert time.perf_counter() - started < 15  # the RSS watchdog, not the call limit
    assert result.votes.tolist() == [[-1, 1]] and result.timeouts.tolist() == [1, 0]


# -- without OS containment ------------------------------------------------------------------
def test_unconfined_workers_are_refused_unless_allowed():
    with pytest.raises(ContainmentUnavailable):
        apply_once([SPAM], ["free"], _confine=False)
    with pytest.warns(UserWarning, match="WITHOUT OS-level containment"):
        result, layers = apply_once([SPAM], ["free"], _confine=False, require_confinement=False)
    assert result.votes.tolist() == [[1]] and layers["seccomp"] is False


def test_compile_refuses_unconfined_programs_unless_allowed(tmp_path, monkeypatch):

    from click.testing import CliRunner
    from conftest import HAM, SPAM as SPAM_TEXTS, base_task, rows_of, write_jsonl, write_task

    from alchemist_compiler.apply import ApplySettings
    from alchemist_compiler.cli import main

    def unconfined_pool(self, sources, k):
        return ProgramPool(sources, k, workers=self.jobs, call_timeout=self.call_timeout,
                           require_confinement=not self.allow_unconfined, _confine=False)

    monkeypatch.setattr(ApplySettings, "pool", unconfined_pool)
    (tmp_path / "spam.py").write_text("def label(x):\n    return 1 if 'http' in x else 0\n")
    write_jsonl(tmp_path / "train.jsonl", rows_of([HAM * 2, SPAM_TEXTS * 2]))
    write_jsonl(tmp_path / "test.jsonl", rows_of([HAM, SPAM_TEXTS]))
    data = {"train": "train.jsonl", "test": "test.jsonl", "input": "text", "label": "label"}
    task = write_task(tmp_path, base_task(data=data, programs={"count": 0, "include": ["spam.py"]},
                                          distill={"seeds": 1, "epochs": 2}))
    out = tmp_path / "out"
    refused = CliRunner().invoke(main, ["compile", str(task), "-o", str(out), "--quiet"])
    assert refused.exit_code == 2 and "--allow-unconfined" in refused.output
    assert not out.exists()
    with pytest.warns(UserWarning, match="WITHOUT OS-level containment"):
        allowed = CliRunner().invoke(main, ["compile", str(task), "-o", str(out), "--quiet",
                                            "--allow-unconfined"])
    assert allowed.exit_code == 0, allowed.output
    assert (out / "dist").is_dir()
