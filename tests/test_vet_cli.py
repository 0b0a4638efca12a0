"""`alchemist vet`: verdicts with reasons, exit codes, JSON, modalities; emitted programs pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from alchemist_compiler import emit
from alchemist_compiler.cli import main
from alchemist_compiler.programs.build import Program, program_from_answer, program_from_file
from alchemist_compiler.task import load_task

HOSTILE_DIR = Path(__file__).with_name("hostile_programs")
EXPECT = re.compile(r"# expect: ([a-z-]+)\n")
SPAM = "def label(x):\n    return 1 if 'free' in x.lower() else 0\n"


def run_vet(*args: object):
    return CliRunner().invoke(main, ["vet", *map(str, args)])


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source, encoding="utf-8")
    return path


def emitted_youtube_programs(folder: Path) -> list[Path]:
    """youtube's recorded programs as the compiler emits them: provenance docstring included."""
    task = load_task(EXAMPLES / "youtube" / "task.yaml")
    answers = sorted((EXAMPLES / "youtube" / "answers").glob("program_*.md"))
    paths = []
    for index, answer in enumerate(answers, start=1):
        program = program_from_answer(answer.read_text("utf-8"), "general", answer.name, {})
        assert isinstance(program, Program), program
        provenance = ["Written by gpt-4o-mini (strategy: general).", "Train coverage 0.100."]
        file, text = emit.program_file(task, index, program.name, program.source, provenance)
        paths.append(write(folder, file, text))
    return paths


def test_emitted_programs_pass(tmp_path):
    paths = emitted_youtube_programs(tmp_path)
    assert len(paths) == 10 and paths[0].read_text().startswith('"""Labeling program p01_')
    result = run_vet(*paths)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"PASS {path}" for path in paths]


def test_statically_rejected_files_fail_with_rule_and_line():
    """vet agrees with compile: a file the build repairs passes, saying what changed."""
    paths = sorted(HOSTILE_DIR.glob("*.py"))
    result = run_vet(*paths)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines):
        built = program_from_file(path)
        if isinstance(built, Program):  # e.g. a demo block removed, an entry point renamed
            assert built.changes and line == f"PASS {path} ({'; '.join(built.changes)})"
            continue
        rule = EXPECT.match(path.read_text("utf-8")).group(1)
        assert line.startswith(f"FAIL {path}: ")
        assert re.search(rf"(: |; )(line \d+: )?{rule}: ", line), line


def test_vet_normalizes_like_compile_and_says_what_it_changed(tmp_path):
    source = (
        "import re\n\nWORDS = ['great', 'awful']\n"
        "PATTERN = re.compile('|'.join(map(re.escape, WORDS)))\n\n"
        "def classify_review(text):\n    return 1 if PATTERN.search(text) else 0\n\n"
        "if __name__ == '__main__':\n    print(classify_review('great'))\n"
    )
    path = write(tmp_path, "classify_review.py", source)
    result = run_vet(path)
    assert result.exit_code == 0, result.output
    changes = "removed __main__ block; renamed classify_review -> label"
    assert result.output == f"PASS {path} ({changes})\n"
    verdict = json.loads(run_vet("--json", path).output)[0]
    assert verdict["changes"] == changes.split("; ") and verdict["passed"]
    broken = write(tmp_path, "broken.py", source.replace("return 1", "return type(text) and 1"))
    line = run_vet(broken).output
    assert line.startswith(f"FAIL {broken} ({changes}): line 7: forbidden-name: "), line


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("def label(x):\n    return True\n", "runtime-invalid"),
        ("def label(x):\n    return 2\n", "runtime-invalid"),
        ("def label(x):\n    raise ValueError(x)\n", "runtime-exception"),
        ("def label(x):\n    return 1\n\nTOO_BIG = 'a' * 10**12\n", "runtime-load-error"),
        ("def label(x):\n    while not x:\n        pass\n    return 0\n", "runtime-timeout"),
    ],
    ids=["bool", "out-of-range", "raises", "load-error", "timeout"],
)
def test_run_time_failures_are_reported(tmp_path, body, rule):
    path = write(tmp_path, "program.py", body)
    result = run_vet(path)
    assert result.exit_code == 1
    assert result.output.startswith(f"FAIL {path}: {rule}: ")


def test_raising_on_some_probes_passes(tmp_path):
    path = write(tmp_path, "picky.py", "def label(x):\n    return 1 // len(x)\n")  # "" raises
    assert run_vet(path).exit_code == 0


def test_one_failure_fails_the_run_and_json_lists_every_file(tmp_path):
    good = write(tmp_path, "good.py", SPAM)
    bad = write(tmp_path, "bad.py", "import os\n\ndef label(x):\n    return 0\n")
    result = run_vet("--json", good, bad)
    assert result.exit_code == 1
    verdicts = json.loads(result.output)
    assert verdicts[0] == {"path": str(good), "passed": True, "changes": [], "ran": True,
                           "findings": []}
    assert verdicts[1]["path"] == str(bad) and verdicts[1]["passed"] is False
    assert verdicts[1]["findings"][0]["rule"] == "forbidden-import"
    assert verdicts[1]["findings"][0]["line"] == 1


def test_classes_option_sets_the_valid_range(tmp_path):
    path = write(tmp_path, "three.py", "def label(x):\n    return 2\n")
    assert run_vet(path).exit_code == 1
    assert run_vet("--classes", 3, path).exit_code == 0


@pytest.mark.parametrize(
    ("modality", "body"),
    [
        ("tabular", "def label(x):\n    return 1 if (x.get('age') or 0) > 30 else 0\n"),
        ("timeseries", "def label(x):\n    return 1 if sum(x) > 0 else 0\n"),
    ],
    ids=["tabular", "timeseries"],
)
def test_other_modalities_get_probes_of_their_type(tmp_path, modality, body):
    path = write(tmp_path, "program.py", body)
    assert run_vet("--modality", modality, path).exit_code == 0
    text_program = write(tmp_path, "text.py", "def label(x):\n    return len(x.split())\n")
    result = run_vet("--modality", modality, text_program)
    assert result.exit_code == 1 and "runtime-" in result.output


def test_usage_errors_exit_2(tmp_path):
    assert run_vet(tmp_path / "missing.py").exit_code == 2
    assert run_vet().exit_code == 2
    assert run_vet("--modality", "audio", write(tmp_path, "p.py", SPAM)).exit_code == 2


def test_undecodable_file_fails(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes(b"# \xe9\ndef label(x):\n    return 0\n")
    result = run_vet(path)
    assert result.exit_code == 1 and result.output.startswith(f"FAIL {path}: unreadable: ")


def test_without_os_containment_vet_checks_statically_and_says_so(tmp_path, monkeypatch):
    import functools

    from alchemist_runtime.sandbox import ProgramPool

    from alchemist_compiler import vet

    monkeypatch.setattr(vet, "ProgramPool", functools.partial(ProgramPool, _confine=False))
    looping = write(tmp_path, "looping.py", "def label(x):\n    while True:\n        pass\n")
    bad = write(tmp_path, "bad.py", "import os\n\ndef label(x):\n    return 0\n")
    result = run_vet(looping, bad)
    lines = result.output.splitlines()
    assert lines[0] == f"PASS {looping} ({vet.STATIC_ONLY})"  # not run: it would time out
    assert lines[1].startswith(f"FAIL {bad}: line 1: forbidden-import")
    assert result.exit_code == 1
