"""programs.pin: reviewed program files keep their slots, as reviewed, whatever the LLM settings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import base_task, write_task
from openai_server import FakeOpenAI
from test_compile_llm import PROGRAMS, answer

from alchemist_compiler.cli import main
from alchemist_compiler.pins import _code

STRATEGIES = ["general", "keywords", "rules"]


def write(folder, server, temperature=0.7, pin=()):
    write_task(folder, base_task(
        llm={"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url,
             "temperature": temperature},
        programs={"count": 3, "strategies": STRATEGIES, "min_coverage": 0.0, "repair_rounds": 0,
                  "pin": list(pin)},
    ))


def compile_to(folder, out):
    return CliRunner().invoke(main, ["compile", str(folder / "task.yaml"), "-o", str(out)])


def asked(server) -> list[str]:
    return [r["messages"][-1]["content"] for r in server.requests]


@pytest.fixture
def first(task_dir, tmp_path, monkeypatch):
    """A first compile; returns the server's requests so far and the labeler's programs."""
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(answer) as server:
        write(task_dir, server)
        assert compile_to(task_dir, tmp_path / "a").exit_code == 0
    return {p.name: p for p in (tmp_path / "a").glob("src/*/programs/*.py")}


def test_a_pinned_program_keeps_its_slot_and_code_under_new_llm_settings(task_dir, tmp_path, first):
    keywords = next(p for p in first.values() if "as program 2 (strategy: keywords)" in p.read_text())
    reviewed = task_dir / "reviewed.py"  # a reviewer's edit: one more keyword
    reviewed.write_text(keywords.read_text().replace(
        '"subscribe" in x.lower()', '"subscribe" in x.lower() or "follow" in x.lower()'))
    assert "follow" in reviewed.read_text()
    with FakeOpenAI(answer) as server:
        write(task_dir, server, temperature=0.2, pin=["reviewed.py"])
        result = compile_to(task_dir, tmp_path / "b")
        prompts = asked(server)
    assert result.exit_code == 0, result.output
    assert not any("(this is function 2)" in p for p in prompts)  # the pinned slot asks nothing
    assert len(prompts) == 3  # the rules question, slots 1 and 3 (new temperature): no keywords question
    out = tmp_path / "b"
    manifest = json.loads(next(out.glob("src/*/manifest.json")).read_text())
    pinned = [p for p in manifest["programs"] if p["pinned"]]
    assert [p["strategy"] for p in pinned] == ["keywords"] and len(manifest["programs"]) == 3
    emitted = next(out.glob(f"src/*/programs/{pinned[0]['file']}")).read_text()
    assert _code(emitted) == _code(reviewed.read_text())  # as reviewed: not rewritten
    assert "Pinned (programs.pin: reviewed.py)" in emitted
    assert "as program 2 (strategy: keywords)" in emitted  # so it can be pinned again
    readme = (out / "README.md").read_text()
    assert f"`{pinned[0]['file']}` | keywords (pinned)" in readme
    assert "Pinned (`programs.pin`: kept as reviewed" in readme


def test_a_pinned_program_is_vetted(task_dir, tmp_path, first):
    keywords = next(p for p in first.values() if "as program 2 (strategy: keywords)" in p.read_text())
    (task_dir / "bad.py").write_text(keywords.read_text() + "\nimport os\n")
    with FakeOpenAI(answer) as server:
        write(task_dir, server, pin=["bad.py"])
        result = compile_to(task_dir, tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "rejected program 2 (keywords), pinned:" in " ".join(result.output.split())
    manifest = json.loads(next((tmp_path / "b").glob("src/*/manifest.json")).read_text())
    assert [p["pinned"] for p in manifest["programs"]] == [False, False]


@pytest.mark.parametrize(("files", "error"), [
    ({"mine.py": PROGRAMS["general"]}, "programs.pin.0: mine.py names no slot"),
    ({"p.py": '"""Written by m as program 4 (strategy: rules)."""\n' + PROGRAMS["rules"]},
     "programs.pin.0: p.py is program 4, but programs.count is 3"),
    ({"a.py": '"""Written by m as program 1 (strategy: general)."""\n' + PROGRAMS["general"],
      "b.py": '"""Written by m as program 1 (strategy: general)."""\n' + PROGRAMS["rules"]},
     "programs.pin.1: b.py is program 1, like a.py"),
    ({}, "programs.pin.0: file not found"),
])
def test_pin_errors_name_the_key(task_dir, tmp_path, monkeypatch, files, error):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    for name, text in files.items():
        (task_dir / name).write_text(text)
    with FakeOpenAI(answer) as server:
        write(task_dir, server, pin=list(files) or ["gone.py"])
        result = compile_to(task_dir, tmp_path / "b")
        assert server.requests == []
    assert result.exit_code == 2 and result.output.splitlines()[-1].startswith(f"error: {error}")
