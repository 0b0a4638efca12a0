"""Honest selection data: valid rows shown to the LLM (exemplars, repair feedback) choose nothing,
or the rows shown come from data.exemplars."""

from __future__ import annotations

import json
import re

import numpy as np
from click.testing import CliRunner
from conftest import HAM, base_task, rows_of, write_jsonl, write_task
from openai_server import FakeOpenAI

from alchemist_compiler.cli import main
from alchemist_compiler.data import Split
from alchemist_compiler.shown import ShownRows

URLS = 'import re\n\ndef label(x):\n    return 1 if re.search(r"http|www", x) else -1\n'
WRONG = 'def label(x):\n    return 0 if "http" in x or "www" in x else 1\n'  # 4 of 12 right
REPAIRED = 'def label(x):\n    return 1 if "subscribe" in x else -1\n'


def copier(prompt: str) -> str:
    """A program that votes only on the exemplars its prompt shows: perfect on exactly those rows."""
    shown = re.findall(r'^- label (\d) \(\w+\): "(.*)"$', prompt, flags=re.MULTILINE)
    branches = "".join(f"    if x == {text!r}:\n        return {c}\n" for c, text in shown)
    return f"def label(x):\n{branches}    return -1\n"


def answer(messages: list[dict]) -> str:
    prompt = messages[-1]["content"]
    if "## Function signature" not in prompt and len(messages) == 2:
        return "spam: subscribe, free\nham: song, love"
    if len(messages) > 2:  # a repair request
        code = REPAIRED
    elif "## Labeled examples" in prompt:
        code = copier(prompt)
    else:
        code = URLS if "(this is function 2)" in prompt else WRONG
    return f"```python\n{code}```"


def compile_with(folder, server, tmp_path, **programs):
    write_task(folder, base_task(
        llm={"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url},
        programs={"min_coverage": 0.0, "repair_rounds": 0, **programs},
    ))
    result = CliRunner().invoke(main, ["compile", str(folder / "task.yaml"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out").glob("src/*/manifest.json")).read_text())
    return result, manifest


def diagnostics(manifest, strategy):
    return next(d for d in manifest["diagnostics"] if d["name"].startswith(strategy))


def test_exemplar_rows_are_held_out_of_every_valid_statistic(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(answer) as server:
        result, manifest = compile_with(task_dir, server, tmp_path, count=2, exemplars_per_class=2,
                                        strategies=["exemplars", "general"])
    shown = [0, 1, 6, 7]  # the first 2 rows of each class in valid
    assert manifest["selection_data"] == {"shown_from": "valid", "shown": {"exemplars": shown},
                                          "valid_rows": 12, "valid_rows_used": 8}
    copied = diagnostics(manifest, "exemplars")
    assert copied["coverage"] > 0 and copied["valid_votes"] == 0  # it votes only on the rows it saw
    assert manifest["evidence"]["class_balance"]["valid_gold"] == [4, 4]
    for metrics in (m for m in manifest["metrics"] if m["split"] == "valid"):
        assert np.sum(metrics["confusion"]) == 8
    line = "valid rows used to choose: 8 of 12; 4 held out because the LLM saw them: 4 in exemplars"
    assert line in " ".join(result.output.split())
    readme = (tmp_path / "out" / "README.md").read_text()
    assert line in " ".join(readme.split())


def test_repair_feedback_rows_are_held_out(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(answer) as server:
        _, manifest = compile_with(task_dir, server, tmp_path, count=2, repair_rounds=1,
                                   strategies=["general", "keywords"])
        repair = next(r["messages"][-1]["content"] for r in server.requests if len(r["messages"]) > 2)
    feedback = manifest["selection_data"]["shown"]["program 1 (general), repair 1"]
    assert feedback == [0, 1, 2, 3, 4]  # the first rows it got wrong: ham rows it called spam
    assert all(HAM[i] in repair for i in feedback)
    assert manifest["selection_data"]["valid_rows_used"] == 12 - 5
    assert diagnostics(manifest, "general")["valid_votes"] == 7  # it votes on all 12 rows


def test_data_exemplars_are_shown_instead_of_valid_rows(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    extra = [["nice tune", "good singer"], ["win a prize at www.x.com", "click my link"]]
    write_jsonl(task_dir / "exemplars.jsonl", rows_of(extra))
    task = base_task()
    task["data"]["exemplars"] = "exemplars.jsonl"
    with FakeOpenAI(answer) as server:
        write_task(task_dir, {**task, "llm": {"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY",
                                              "base_url": server.base_url},
                              "programs": {"count": 2, "strategies": ["exemplars", "general"],
                                           "min_coverage": 0.0, "repair_rounds": 0}})
        out = tmp_path / "out"
        result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(out)])
        prompts = [r["messages"][-1]["content"] for r in server.requests]
    assert result.exit_code == 0, result.output
    exemplars = next(p for p in prompts if "## Labeled examples" in p)
    assert '"nice tune"' in exemplars and HAM[0] not in exemplars
    manifest = json.loads(next(out.glob("src/*/manifest.json")).read_text())
    assert manifest["selection_data"] == {"shown_from": "exemplars", "shown": {"exemplars": [0, 1, 2, 3]},
                                          "valid_rows": 12, "valid_rows_used": 12}


def test_data_exemplars_is_checked_like_the_other_splits(task_dir, tmp_path):
    task = base_task(programs={"count": 2, "strategies": ["exemplars"]})
    del task["data"]["valid"]
    task["data"]["exemplars"] = "missing.jsonl"
    write_task(task_dir, task)
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.startswith("error: data.exemplars: file not found")
    (task_dir / "missing.jsonl").write_text('{"text": "hi", "label": "eggs"}\n')
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "missing.jsonl: row 1: label 'eggs'" in result.output


def test_only_valid_rows_the_llm_saw_are_held_out():
    valid = Split("valid", list("abcdef"), np.array([0, 0, 0, 1, 1, 1]), groups=list("xyxyxy"))
    shown = ShownRows("valid", len(valid))
    shown.add("exemplars", [0, 3])
    shown.add("program 1 (general), repair 1", [3, 4])
    shown.add("program 2 (rules), repair 1", [])
    splits, votes = shown.for_selection({"valid": valid}, {"valid": np.arange(6)[:, None]})
    assert splits["valid"].inputs == ["b", "c", "f"] and splits["valid"].groups == ["y", "x", "y"]
    assert votes["valid"].ravel().tolist() == [1, 2, 5]
    assert list(shown.shown) == ["exemplars", "program 1 (general), repair 1"]
    from_exemplars = ShownRows("exemplars", len(valid), {"exemplars": [0, 1]})
    assert from_exemplars.valid_rows_used().tolist() == list(range(6))
    everything = ShownRows("valid", 2, {"exemplars": [0, 1]})
    assert "valid" not in everything.for_selection({"valid": valid.take([0, 1])}, {"valid": votes["valid"]})[0]
