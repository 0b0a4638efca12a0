"""ProgramPool: each program runs alone in a contained process; every failure ends as counted abstains."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from alchemist_runtime.sandbox import ProgramPool
from conftest import ESCAPE_TO_OS

SPAM = "def label(x):\n    return 1 if 'free' in x else 0\n"
SHORT = "def label(x):\n    return 0 if len(x) < 4 else -1\n"


def program(body: str) -> str:
    return textwrap.dedent(body).strip() + "\n"


def worker_pids(pool: ProgramPool) -> list[int]:
    return [process.proc.pid for process in pool._processes.values()]


def apply_once(sources, inputs, n_classes=2, **options):
    with ProgramPool(sources, n_classes, **options) as pool:
        return pool.apply(inputs)


def test_simple_programs_vote_and_abstain():
    result = apply_once([SPAM, SHORT], ["free money", "hi", "hello there"])
    assert result.votes.dtype == np.int8
    assert result.votes.tolist() == [[1, -1], [0, 0], [0, -1]]
    for counts in (result.exceptions, result.timeouts, result.invalid):
        assert counts.dtype == np.int64 and counts.tolist() == [0, 0]
    assert result.load_errors == [None, None]


def test_exception_abstains_and_is_counted():
    flaky = program("""
        def label(x):
            if x == "boom":
                raise ValueError(x)
            if x == "exit":
                raise SystemExit(3)
            return 1
    """)
    result = apply_once([flaky, SPAM], ["ok", "boom", "exit", "free"])
    assert result.votes[:, 0].tolist() == [1, -1, -1, 1]
    assert result.exceptions.tolist() == [2, 0]
    assert result.votes[:, 1].tolist() == [0, 0, 0, 1]


def test_infinite_loop_times_out_and_other_rows_are_labeled():
    looping = program("""
        def label(x):
            while x == "loop":
                pass
            return 0
    """)
    result = apply_once([looping, SPAM], ["a", "loop", "free"], call_timeout=0.2)
    assert result.votes.tolist() == [[0, 0], [-1, 0], [0, 1]]
    assert result.timeouts.tolist() == [1, 0]
    assert result.exceptions.tolist() == [0, 0]


def test_swallowed_timeout_is_still_a_timeout():
    stubborn = program("""
        def label(x):
            if x == "slow":
                try:
                    while True:
                        pass
                except BaseException:
                    return 1
            return 0
    """)
    result = apply_once([stubborn], ["slow", "fast"], call_timeout=0.2)
    assert result.votes[:, 0].tolist() == [-1, 0]
    assert result.timeouts.tolist() == [1]


def test_call_that_swallows_every_interrupt_is_reported_and_skipped():
    # The worker names the stuck call and exits; the parent reruns the rest of the task without
    # bisecting it, so this costs one call budget and a restart, not a kill per row.
    relentless = program("""
        def label(x):
            while x == "stuck":
                try:
                    while True:
                        pass
                except BaseException:
                    pass
            return 1
    """)
    reported: list[int] = []
    with ProgramPool([SPAM, relentless], 2, workers=1, call_timeout=0.2) as pool:
        pool.apply(["warm up"])
        before = worker_pids(pool)
        started = time.perf_counter()
        result = pool.apply(["a", "free", "stuck", "b"], progress=reported.append)
        elapsed = time.perf_counter() - started
        assert worker_pids(pool) != before
    assert result.votes.tolist() == [[0, 1], [1, 1], [0, -1], [0, 1]]
    assert result.timeouts.tolist() == [0, 1] and result.exceptions.tolist() == [0, 0]
    assert sum(reported) == pytest.approx(4)
    assert elapsed < 2.0  # killed after 0.2 s + grace, from outside


def test_catastrophic_regex_is_contained():
    backtracking = program("""
        import re
        def label(x):
            return 1 if re.match(r"(a+)+$", x) else 0
    """)
    result = apply_once([backtracking, SPAM], ["aaa", "a" * 40 + "b", "free"], call_timeout=0.2)
    assert result.votes.tolist() == [[1, 0], [-1, 0], [0, 1]]
    assert result.timeouts.tolist() == [1, 0]


def test_hang_in_c_code_is_killed_and_the_rest_labeled():
    # sum() over a C iterator never returns to the bytecode loop: the parent kills the process
    # and a fresh one goes on from the next row.
    hang = program("""
        import itertools
        def label(x):
            if x == "hang":
                sum(itertools.repeat(1, 10**12))
            return 1
    """)
    reported: list[int] = []
    with ProgramPool([hang, SPAM], 2, call_timeout=0.2, chunk_size=3) as pool:
        result = pool.apply(["a", "hang", "free", "b", "c"], progress=reported.append)
    assert result.votes.tolist() == [[1, 0], [-1, 0], [1, 1], [1, 0], [1, 0]]
    assert result.timeouts.tolist() == [1, 0]
    assert result.exceptions.tolist() == [0, 0]
    assert sum(reported) == pytest.approx(5)  # progress counts every row once


def test_worker_crash_is_contained_and_worker_replaced():
    crasher = program(
        ESCAPE_TO_OS
        + """
def label(x):
    if x == "crash":
        _os()["_exit"](7)
    return 1
"""
    )
    with ProgramPool([crasher, SPAM], 2, workers=1) as pool:
        pool.apply(["a"])
        before = worker_pids(pool)
        result = pool.apply(["a", "crash", "free"])
        after = worker_pids(pool)
        again = pool.apply(["free"])
    assert result.votes.tolist() == [[1, 0], [-1, 0], [1, 1]]
    assert result.timeouts.tolist() == [1, 0]
    assert before != after
    assert again.votes.tolist() == [[1, 1]]


FORGED_DONE = b'{"done": 3}'
FORGED_FRAMES = [
    b"\xff\xff\xff\xffgarbage",
    len(FORGED_DONE).to_bytes(4, "big") + FORGED_DONE,  # a result before the chunk is done
]


@pytest.mark.parametrize("frame", FORGED_FRAMES, ids=["garbage", "early-result"])
def test_forged_protocol_frames_stop_only_their_program(frame):
    forger = program(
        ESCAPE_TO_OS
        + f"""
def label(x):
    if x == "forge":
        for fd in range(3, 8):  # the protocol channel is one of them
            try:
                _os()["write"](fd, {frame!r})
            except Exception:  # OSError is not a name programs get
                pass
        _os()["_exit"](0)
    return 1
"""
    )
    result = apply_once([forger, SPAM], ["a", "forge", "free"])
    assert result.stopped[0].startswith("broke the sandbox protocol"), result.stopped
    assert result.votes.tolist() == [[-1, 0], [-1, 0], [-1, 1]]
    assert result.stopped[1] is None


def test_escaped_program_cannot_create_files(tmp_path):
    target = tmp_path / "written"
    writer = program(
        ESCAPE_TO_OS
        + f"""
def label(x):
    _os()["open"]({str(target)!r}, 0o101)  # O_WRONLY | O_CREAT
    return 1
"""
    )
    result = apply_once([writer], ["a"])
    assert result.exceptions.tolist() == [1]
    assert not target.exists()


# Module-level code of programs that escaped vetting and the restricted builtins (through os's
# globals), each attempting one audited operation; the load error names the refused event.
REAL_BUILTINS = "_os()['__builtins__']"
AUDITED_ESCAPES = [  # (the event refused, the statement)
    ("open", f"{REAL_BUILTINS}['open']('{{tmp}}/escaped', 'w')"),
    ("open", "_os()['open']('{tmp}/escaped', 0o101)"),
    ("import", f"{REAL_BUILTINS}['__import__']('socket')"),
    ("os.system", "_os()['system']('touch {tmp}/escaped')"),
    ("os.exec", "_os()['execv']('/bin/touch', ['touch', '{tmp}/escaped'])"),
    ("os.posix_spawn", "_os()['posix_spawn']('/bin/touch', ['touch', '{tmp}/escaped'], {{}})"),
    ("os.fork", "_os()['fork']()"),
    ("os.kill", "_os()['kill'](_os()['getppid'](), 9)"),
    ("compile", f"{REAL_BUILTINS}['compile']('1', 'x', 'eval')"),
    ("compile", f"{REAL_BUILTINS}['exec']('1')"),
    ("sys._getframe", "_os()['sys']._getframe()"),
    ("object.__getattr__", "_os.__code__"),
    ("sys.addaudithook", "_os()['sys'].addaudithook(print)"),
    ("marshal.loads", "_os()['sys'].modules['marshal'].loads(b'N')"),
]


@pytest.mark.parametrize(("event", "statement"), AUDITED_ESCAPES, ids=[e for e, _ in AUDITED_ESCAPES])
def test_audit_hook_refuses_escaped_operations(event, statement, tmp_path):
    source = ESCAPE_TO_OS + statement.format(tmp=tmp_path) + "\ndef label(x):\n    return 1\n"
    result = apply_once([source, SPAM], ["free"])
    assert result.load_errors[0] == f"SandboxRefusal: the sandbox refused {event!r}"
    assert result.votes.tolist() == [[-1, 1]]
    assert list(tmp_path.iterdir()) == []


def test_refused_operation_counts_as_exception_even_if_caught(tmp_path):
    sneaky = program(
        ESCAPE_TO_OS
        + f"""
def label(x):
    try:
        _os()["system"]("touch {tmp_path}/escaped")
    except Exception:
        pass
    return 1
"""
    )
    result = apply_once([sneaky, SPAM], ["a", "free"])
    assert result.votes.tolist() == [[-1, 0], [-1, 1]]
    assert result.exceptions.tolist() == [2, 0]
    assert list(tmp_path.iterdir()) == []


def test_memory_bomb_is_contained():
    bomb = program("""
        def label(x):
            if x == "bomb":
                y = "a" * 10**10
            return 1
    """)
    result = apply_once([bomb, SPAM], ["bomb", "free"])
    assert result.votes.tolist() == [[-1, 0], [1, 1]]
    assert result.exceptions.tolist() == [1, 0]


def test_memory_limit_applies():
    hungry = program("""
        def label(x):
            block = bytearray(512 * 2**20)
            return 1
    """)
    tight = apply_once([hungry], ["a"], memory_mb=256)
    assert tight.votes.tolist() == [[-1]] and tight.exceptions.tolist() == [1]
    roomy = apply_once([hungry], ["a"], memory_mb=2048, call_timeout=20)  # it zeroes 512 MB
    assert roomy.votes.tolist() == [[1]]


def test_print_flood_is_swallowed():
    noisy = program("""
        def label(x):
            for _ in range(20000):
                print("spam " * 20)
            print("\\x00\\x00\\x00\\x05hello")
            return 1
    """)
    result = apply_once([noisy, SPAM], ["a", "free", "b"])
    assert result.votes.tolist() == [[1, 0], [1, 1], [1, 0]]
    assert result.exceptions.tolist() == [0, 0] and result.invalid.tolist() == [0, 0]


def test_wrong_return_types_are_invalid():
    odd = program("""
        import re

        def label(x):
            return {
                "bool": True,
                "float": 1.0,
                "str": "1",
                "none": None,
                "big": 3,
                "low": -2,
                "subclass": re.IGNORECASE,  # an int subclass (IntFlag), value 2
                "abstain": -1,
            }[x]
    """)
    inputs = ["bool", "float", "str", "none", "big", "low", "subclass", "abstain"]
    result = apply_once([odd], inputs, n_classes=3)
    assert result.votes[:, 0].tolist() == [-1, -1, -1, -1, -1, -1, 2, -1]
    assert result.invalid.tolist() == [6]
    assert result.exceptions.tolist() == [0]


def test_load_errors_leave_the_column_abstaining(tmp_path):
    marker = tmp_path / "opened"
    sources = [
        "def label(x:\n",
        "import os\ndef label(x):\n    return 1\n",
        f"open({str(marker)!r}, 'w')\ndef label(x):\n    return 1\n",
        "LABEL = 1\n",
        ESCAPE_TO_OS + "_os()['_exit'](1)\ndef label(x):\n    return 1\n",
        "while True:\n    pass\n",
        SPAM,
    ]
    result = apply_once(sources, ["free", "x"])
    errors = result.load_errors
    assert errors[0].startswith("SyntaxError")
    assert errors[1].startswith("ImportError") and "'os'" in errors[1]
    assert errors[2].startswith("NameError") and not marker.exists()
    assert errors[3].startswith("TypeError")
    assert "crashed" in errors[4]
    assert errors[5].startswith("TimeoutError")
    assert errors[6] is None
    assert (result.votes[:, :6] == -1).all()
    assert result.votes[:, 6].tolist() == [1, 0]
    assert result.exceptions.sum() == result.timeouts.sum() == result.invalid.sum() == 0


def test_allowed_imports_work():
    source = program("""
        import collections.abc
        import statistics
        from collections import Counter
        from itertools import chain

        def label(x):
            counts = Counter(chain(x))
            ok = isinstance(counts, collections.abc.Mapping)
            return int(ok and statistics.mean(counts.values()) > 1)
    """)
    assert apply_once([source], ["aab", "abc"]).votes[:, 0].tolist() == [1, 0]


DICT_PROGRAMS = [
    "def label(x):\n    return 1 if 'free' in x['text'] else 0\n",
    "def label(x):\n    return len(x['text']) % 3 - 1\n",
    "def label(x):\n    x.pop('text')\n    return 0\n",  # must not leak into later programs
    "def label(x):\n    return 1 if 'text' in x else 2\n",
    # set-of-str order depends on the hash seed: it must be the same in every worker
    "S = {'alpha', 'beta', 'gamma', 'delta', 'eps'}\ndef label(x):\n    return len(next(iter(S))) % 3\n",
    "def label(x):\n    return 1 // (len(x['text']) % 4)\n",
]


def test_results_do_not_depend_on_workers_or_chunking():
    texts = ["free " * (i % 5) + str(i) for i in range(60)]
    inputs = [{"text": text} for text in texts]

    def run(workers, chunk_size):
        options = {"n_classes": 3, "workers": workers, "chunk_size": chunk_size}
        result = apply_once(DICT_PROGRAMS, inputs, **options)
        return result.votes, result.exceptions, result.invalid

    reference = run(1, 512)
    for workers, chunk_size in ((2, 512), (2, 7), (1, 7)):
        for got, want in zip(run(workers, chunk_size), reference, strict=True):
            np.testing.assert_array_equal(got, want)
    votes, exceptions, _ = reference
    assert votes[:, 0].tolist() == [int("free" in text) for text in texts]
    assert (votes[:, 3] == 1).all()
    assert len(set(votes[:, 4].tolist())) == 1
    assert exceptions[5] == sum(len(text) % 4 == 0 for text in texts) > 0


def test_an_idle_worker_takes_over_the_unsent_half_of_a_slow_program():
    loop = f"    for _ in range({busy_loop_iterations(0.0005)}):\n        pass\n"
    slow = "def label(x):\n" + loop + "    return len(x) % 2\n"
    inputs = [f"row {i}" for i in range(3000)]  # about 1.5 s of the slow program
    seen: list[float] = []
    with ProgramPool([slow, SPAM], 2, workers=2, chunk_size=128) as pool:
        result = pool.apply(inputs, progress=seen.append)
        parts = sorted(pool._processes)
    assert (0, 1) in parts and (1, 1) not in parts  # the slow program ran in two processes
    assert result.votes[:, 0].tolist() == [len(x) % 2 for x in inputs]  # no row lost or repeated
    assert result.votes[:, 1].tolist() == [0] * len(inputs)
    assert sum(seen) == pytest.approx(len(inputs))


def test_short_jobs_start_one_process_per_program():
    with ProgramPool([SPAM, SHORT, SPAM], 2, workers=2, chunk_size=16) as pool:
        result = pool.apply([f"free {i}" for i in range(500)])
        assert sorted(pool._processes) == [(0, 0), (1, 0), (2, 0)]
    assert (result.votes[:, 0] == 1).all()


def test_empty_inputs_give_an_empty_matrix():
    result = apply_once([SPAM, SHORT, "def label(x):\n"], [])
    assert result.votes.shape == (0, 3) and result.votes.dtype == np.int8
    assert result.load_errors[2] is not None


def busy_loop_iterations(seconds: float) -> int:
    """How many iterations of an empty Python loop take about this long on this machine."""
    n = 10**6
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            pass
        best = min(best, time.perf_counter() - start)
    return int(n * seconds / best)


def test_slow_but_healthy_task_is_not_killed():
    # Calls well within call_timeout (10x headroom, for a loaded machine) that together last
    # longer than one call may: the parent times each call, not the chunk.
    loop = f"    for _ in range({busy_loop_iterations(0.1)}):\n        pass\n"
    slow = "def label(x):\n" + loop + "    return 1\n"
    with ProgramPool([slow], 2, workers=1, call_timeout=1.0) as pool:
        pool.apply(["warm up"])
        before = worker_pids(pool)
        started = time.perf_counter()
        pool.apply(["probe"])
        rows = math.ceil(6.0 / (time.perf_counter() - started))
        started = time.perf_counter()
        result = pool.apply([str(i) for i in range(rows)])
        assert time.perf_counter() - started > 2.0  # > one call's limit, else this proves nothing
        assert worker_pids(pool) == before
    assert (result.votes == 1).all() and result.timeouts.tolist() == [0]


def test_pool_survives_many_applies_and_closes_cleanly():
    pool = ProgramPool([SPAM, SHORT], 2, workers=2)
    pool.apply(["warm up"])
    pids = worker_pids(pool)
    assert len(pids) == 2
    for i in range(30):
        result = pool.apply(["free", "no", f"row {i}"])
        assert result.votes.tolist() == [[1, -1], [0, 0], [0, -1]]
    assert worker_pids(pool) == pids
    pool.close()
    pool.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left behind
    with pytest.raises(RuntimeError):
        pool.apply(["free"])


OWNER_KILLED_MID_JOB = """
import sys
from alchemist_runtime.sandbox import ProgramPool
pool = ProgramPool([sys.argv[1], sys.argv[2]], 2, workers=2)
pool.apply(["warm up"])
print(" ".join(str(p.proc.pid) for p in pool._processes.values()), flush=True)
pool.apply(["row"] * 10_000_000)  # killed here
"""


def test_a_killed_owner_leaves_no_directory_behind(tmp_path):
    """The workers' cwd is removed as soon as they start, so a SIGKILLed owner (a Dask worker
    stopped mid-partition) leaves nothing in the temporary directory."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", OWNER_KILLED_MID_JOB, SPAM, SHORT],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(scratch)})
    pids = [int(p) for p in owner.stdout.readline().split()]
    assert len(pids) == 2
    for pid in pids:  # running, in a directory that no longer exists
        assert os.readlink(f"/proc/{pid}/cwd").endswith("(deleted)")
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert list(scratch.iterdir()) == []
