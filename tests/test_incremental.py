"""Cheap recompiles: more programs reuse the lock's answers; pinned programs stay as they are."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import base_task, write_task
from openai_server import FakeOpenAI
from test_compile_llm import PROGRAMS, answer

from alchemist_compiler.cli import main


def llm_task(folder, server, **programs) -> None:
    write_task(folder, base_task(
        llm={"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url},
        programs={"strategies": list(PROGRAMS), "min_coverage": 0.0, "repair_rounds": 0, **programs},
    ))


def compile_to(folder, out):
    return CliRunner().invoke(main, ["compile", str(folder / "task.yaml"), "-o", str(out), "--quiet"])


def program_requests(server) -> list[str]:
    return [r["messages"][-1]["content"] for r in server.requests
            if "## Function signature" in r["messages"][-1]["content"]]


def test_raising_count_asks_only_for_the_new_slots(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(answer) as server:
        llm_task(task_dir, server, count=3)
        assert compile_to(task_dir, tmp_path / "a").exit_code == 0
        asked = len(program_requests(server))
        llm_task(task_dir, server, count=4)
        result = compile_to(task_dir, tmp_path / "b")
        assert result.exit_code == 0, result.output
        new = program_requests(server)[asked:]
    assert asked == 3 and len(new) == 1 and "(this is function 4)" in new[0]


def test_a_new_temperature_asks_again(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(answer) as server:
        llm_task(task_dir, server, count=2)
        assert compile_to(task_dir, tmp_path / "a").exit_code == 0
        asked = len(server.requests)
        task = json.loads(json.dumps(base_task()))  # the same task at another temperature
        write_task(task_dir, {**task, "llm": {"model": "test-model", "temperature": 0.2,
                                              "api_key_env": "ALCHEMIST_TEST_KEY",
                                              "base_url": server.base_url},
                              "programs": {"count": 2, "strategies": list(PROGRAMS),
                                           "min_coverage": 0.0, "repair_rounds": 0}})
        assert compile_to(task_dir, tmp_path / "b").exit_code == 0
    assert len(server.requests) == 2 * asked
