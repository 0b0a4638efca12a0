"""Hostile programs are contained: rejected for their rule, or run harmlessly in the sandbox.

The corpus: tests/hostile_programs/*.py break a static vetting rule (`# expect: <rule>`);
tests/hostile_programs/runtime/*.py pass vetting and misbehave at run time (`# expect:
runtime-<outcome>`, the rule `alchemist vet` reports; runtime-pass: harmless, e.g. a print flood).
Every one of them goes through one full compile; the run-time ones are also applied one by one,
and every statically rejected one is also run with vetting bypassed.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from pathlib import Path

import pytest
from alchemist_runtime.labeler import Labeler
from alchemist_runtime.sandbox import ProgramPool
from click.testing import CliRunner
from conftest import ESCAPE_TO_OS, HAM, SPAM, base_task, rows_of, write_jsonl, write_task

from alchemist_compiler.cli import main
from alchemist_compiler.modality import get_modality
from alchemist_compiler.programs.build import Program, program_from_file
from alchemist_compiler.programs.vetting import vet
from alchemist_compiler.vet import column_findings

HOSTILE_DIR = Path(__file__).with_name("hostile_programs")
STATIC_FILES = sorted(HOSTILE_DIR.glob("*.py"))
RUNTIME_FILES = sorted((HOSTILE_DIR / "runtime").glob("*.py"))
EXPECT = re.compile(r"# expect: ([a-z-]+)\n")
PROBES = get_modality("text").probe_inputs()

GOOD = "def label(x):\n    return 1 if 'subscribe' in x or 'http' in x else 0\n"
# Kept by the compile, they misbehave only on pathological inputs: the emitted labeler must cope.
RAISES_ON_DIGITS = """
def label(x):
    if any(c.isdigit() for c in x):
        raise ValueError(x)
    return 1 if "!" in x or "www" in x else -1
"""
BACKTRACKS_ON_AAA = """
import re

ONLY_AS = re.compile(r"^(a+)+$")


def label(x):
    if ONLY_AS.match(x):
        return 1
    return 0 if "love" in x or "sing" in x else -1
"""
KEPT = {"good.py": GOOD, "raises_on_digits.py": RAISES_ON_DIGITS, "backtracks.py": BACKTRACKS_ON_AAA}
ESCAPED_ACTIONS = [  # stopped by the audit hook
    "_os()['system']('touch escaped-system')",
    "_os()['__builtins__']['open']('escaped-open', 'w')",
    "_os()['open']('escaped-os-open', 0o101)",
    "_os()['__builtins__']['__import__']('socket').create_connection(('127.0.0.1', {port}))",
    "_os()['kill'](_os()['getppid'](), 9)",
]
UNVETTED_ACTIONS = [  # stopped by the restricted builtins and the guarded importer
    "__import__('os').system('touch escaped-import')",
    "open('escaped-builtin-open', 'w')",
]


def expected(path: Path) -> str:
    return EXPECT.match(path.read_text("utf-8")).group(1)


def good_votes(inputs) -> list[int]:
    return [1 if "subscribe" in x or "http" in x else 0 for x in inputs]


def corpus_source(path: Path, port: int) -> str:
    """A corpus file's text, with socket_connect.py aimed at the test's listener."""
    return path.read_text("utf-8").replace("PORT = 0", f"PORT = {port}")


def snapshot(root: Path, skip: str = "") -> dict[str, tuple[int, int]]:
    """Size and modification time of every file and folder under root (but top-level `skip`)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if not skip or p.relative_to(root).parts[0] != skip
    }


def connection_attempted(server: socket.socket) -> bool:
    readable, _, _ = select.select([server], [], [], 0.1)
    return bool(readable)


def observed_outcome(stats: dict) -> str:
    """The run-time outcome a compile's diagnostics show for one program."""
    if (stats["dropped"] or "").startswith("failed to load"):
        return "runtime-load-error"
    for key in ("timeouts", "exceptions", "invalid"):
        if stats[key]:
            return f"runtime-{key.removesuffix('s')}"
    return "runtime-pass"


def test_corpus_is_large_and_covers_every_outcome():
    assert len(STATIC_FILES) + len(RUNTIME_FILES) >= 40
    outcomes = {expected(path) for path in RUNTIME_FILES}
    assert outcomes == {f"runtime-{o}" for o in ("timeout", "exception", "invalid", "load-error", "pass")}


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda path: path.stem)
def test_runtime_hostile_program_is_contained(path):
    program = program_from_file(path)
    assert isinstance(program, Program), program  # vetting lets it through: the sandbox must cope
    with ProgramPool([program.source, GOOD], 2, call_timeout=0.2) as pool:
        result = pool.apply(PROBES)
    rules = [finding.rule for finding in column_findings(result, 0, len(PROBES), 2)]
    assert rules == ([] if expected(path) == "runtime-pass" else [expected(path)])
    assert result.votes[:, 1].tolist() == good_votes(PROBES)


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_sandbox_contains_programs_that_bypass_vetting(tmp_path, monkeypatch, listener):
    port = listener.getsockname()[1]
    label = "\ndef label(x):\n    return 1\n"
    corpus = [corpus_source(path, port) for path in STATIC_FILES]
    unvetted = [action + label for action in UNVETTED_ACTIONS]
    escaped = [ESCAPE_TO_OS + action.format(port=port) + label for action in ESCAPED_ACTIONS]
    monkeypatch.chdir(tmp_path)  # the workers' cwd: relative paths land here
    with ProgramPool([*corpus, *unvetted, *escaped, GOOD], 2, call_timeout=0.2) as pool:
        result = pool.apply(PROBES)
    assert result.votes[:, -1].tolist() == good_votes(PROBES)
    assert (result.votes[:, len(corpus) : -1] == -1).all()
    refused = result.load_errors[-1 - len(escaped) : -1]
    assert all(error.startswith("SandboxRefusal: ") for error in refused), refused
    assert list(tmp_path.iterdir()) == []
    assert not connection_attempted(listener)


@pytest.fixture(scope="module")
def hostile_compile(tmp_path_factory):
    """One compile that includes every hostile program plus three keepers; what it left behind."""
    root = tmp_path_factory.mktemp("containment")
    task_dir, cwd, out = root / "task", root / "cwd", root / "out"
    (task_dir / "programs").mkdir(parents=True)
    cwd.mkdir()
    with socket.create_server(("127.0.0.1", 0)) as server, pytest.MonkeyPatch.context() as patch:
        port = server.getsockname()[1]
        sources = {p.name: corpus_source(p, port) for p in STATIC_FILES + RUNTIME_FILES} | KEPT
        for name, source in sources.items():
            (task_dir / "programs" / name).write_text(source, encoding="utf-8")
        write_jsonl(task_dir / "train.jsonl", rows_of([HAM[:3] + [HAM[4], "très bien"], SPAM[:3]]))
        write_jsonl(task_dir / "test.jsonl", rows_of([HAM[3:4], SPAM[3:4]]))
        data = {"train": "train.jsonl", "test": "test.jsonl", "input": "text", "label": "label"}
        programs = {"count": 0, "include": [f"programs/{name}" for name in sources],
                    "min_coverage": 0.0, "call_timeout_s": 0.1}
        task = write_task(task_dir, base_task(data=data, programs=programs,
                                              distill={"seeds": 1, "epochs": 3}))
        patch.chdir(cwd)
        before = snapshot(root)
        started = time.perf_counter()
        result = CliRunner().invoke(main, ["compile", str(task), "-o", str(out), "--offline", "--quiet"])
        elapsed = time.perf_counter() - started
        after = snapshot(root, skip="out")
        connected = connection_attempted(server)
    built = {name: program_from_file(task_dir / "programs" / name) for name in sources}
    packages = list(out.glob("src/*"))
    return {"result": result, "elapsed": elapsed, "before": before, "after": after,
            "connected": connected,
            "built": built, "package": packages[0] if packages else None}


def manifest_of(run) -> dict:
    return json.loads((run["package"] / "manifest.json").read_text("utf-8"))


def name_of(run, file_name: str) -> str:
    return run["built"][file_name].name


def test_compile_with_every_hostile_program_completes(hostile_compile):
    result = hostile_compile["result"]
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    # hangs cost a few call limits each, not call_timeout x rows (about 25 s on 2 idle cores)
    assert hostile_compile["elapsed"] < 150
    kept = {column.split("_", 1)[1] for column in manifest_of(hostile_compile)["label_model_columns"]}
    assert {name_of(hostile_compile, name) for name in KEPT} <= kept


def test_statically_rejected_files_are_reported_with_their_rule(hostile_compile):
    dropped = manifest_of(hostile_compile)["dropped"]
    for path in STATIC_FILES:
        built = hostile_compile["built"][path.name]
        if isinstance(built, Program):  # the build repaired it (a renamed entry point, say)
            assert vet(built.source) == [], path.name
            continue
        reasons = [d for d in dropped if d.startswith(f"{path.name}: ")]
        assert reasons and f": {expected(path)}: " in reasons[0], (path.name, reasons)


def test_runtime_hostile_programs_show_their_outcome(hostile_compile):
    stats = {s["name"]: s for s in manifest_of(hostile_compile)["diagnostics"]}
    for path in RUNTIME_FILES:
        program_stats = stats[name_of(hostile_compile, path.name)]
        assert observed_outcome(program_stats) == expected(path), (path.name, program_stats)


def test_programs_whose_votes_differ_between_runs_are_dropped(hostile_compile):
    stats = {s["name"]: s for s in manifest_of(hostile_compile)["diagnostics"]}
    unstable = stats[name_of(hostile_compile, "votes_differ_first_call.py")]
    assert unstable["dropped"].startswith("stopped: its votes differ between runs"), unstable
    assert stats[name_of(hostile_compile, "good.py")]["dropped"] is None


def test_compile_writes_nothing_outside_its_output_and_connects_nowhere(hostile_compile):
    assert hostile_compile["after"] == hostile_compile["before"]
    assert not hostile_compile["connected"]


def test_emitted_labeler_survives_pathological_inputs(hostile_compile):
    manifest = manifest_of(hostile_compile)
    columns = [column.split("_", 1)[1] for column in manifest["label_model_columns"]]
    inputs = ["ÉCOLE été", "a" * 40 + "b", "call 555 now!", "subscribe please"]
    labeler = Labeler(hostile_compile["package"])
    try:
        started = time.perf_counter()
        votes = labeler.votes(inputs)
        labels = labeler.vote(inputs)
        elapsed = time.perf_counter() - started
    finally:
        labeler.close()
    assert elapsed < 20  # each hang costs at most about (call timeout + 1 s) per retry
    column = {name: columns.index(name_of(hostile_compile, name)) for name in [*KEPT, "hang_in_c_code.py"]}
    assert votes[:, column["good.py"]].tolist() == good_votes(inputs)
    assert votes[2, column["raises_on_digits.py"]] == -1
    assert votes[1, column["backtracks.py"]] == -1
    assert votes[0, column["hang_in_c_code.py"]] == -1
    assert len(labels) == len(inputs) and set(labels) <= {"ham", "spam", None}


# A reviewer's nightmare: a pull request that edits an emitted program. vote() must contain it.
TAMPERED = ESCAPE_TO_OS + """
def label(x):
    try:
        _os()["open"]({target!r}, 0o101)
    except Exception:
        pass
    try:
        _os()["__builtins__"]["__import__"]("socket").create_connection(("127.0.0.1", {port}), 1)
    except Exception:
        pass
    try:
        _os()["kill"](_os()["getppid"](), 9)
    except Exception:
        pass
    return 1
"""


VOTES_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from {module} import Labeler
labeler = Labeler()
print(json.dumps(labeler.votes(json.loads(sys.argv[2])).tolist()))
labeler.close()
"""


def installed_votes(site: Path, module: str, inputs: list[str]) -> list[list[int]]:
    """vote() of the wheel installed (unpacked) in `site`, in a fresh interpreter."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-I", "-c", VOTES_SCRIPT.format(module=module),
                             str(site), json.dumps(inputs)], capture_output=True, text=True,
                            check=True, timeout=120)
    return json.loads(result.stdout.splitlines()[-1])


def test_installed_labeler_vote_contains_a_tampered_program(hostile_compile, tmp_path, listener):
    import zipfile

    package = hostile_compile["package"]
    wheel = next((package.parent.parent / "dist").glob("*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    inputs = ["subscribe please", "love it", "http://spam"]
    honest = installed_votes(site, package.name, inputs)
    manifest = json.loads((package / "manifest.json").read_text("utf-8"))
    victim = site / package.name / "programs" / manifest["programs"][0]["file"]
    target = tmp_path / "written-by-vote"
    port = listener.getsockname()[1]
    victim.write_text(TAMPERED.format(target=str(target), port=port), encoding="utf-8")
    before = snapshot(tmp_path)
    tampered = installed_votes(site, package.name, inputs)  # check=True: the caller survived
    assert snapshot(tmp_path) == before and not target.exists()
    assert not connection_attempted(listener)
    assert [row[0] for row in tampered] == [-1, -1, -1]  # every call refused, counted, abstained
    assert [row[1:] for row in tampered] == [row[1:] for row in honest]  # the others unchanged
