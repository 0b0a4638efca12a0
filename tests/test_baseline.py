"""`alchemist baseline`: the zero-shot LLM labels rows through the lock, beside the labeler."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import HAM, SPAM, base_task, write_task
from openai_server import FakeOpenAI

from alchemist_compiler.baseline import ABSTAIN, UNPARSEABLE, parse_answer, sample_rows, scores
from alchemist_compiler.cli import main

NAMES = ["negative", "neutral", "positive"]


@pytest.mark.parametrize("text, expected", [
    ("2", 2), (" 1.\n", 1), ("**0**", 0), ("Label: 2 (positive)", 2), ("Positive", 2),
    ("The sentence is neutral.", 1), ("-1", ABSTAIN), ("`neutral`", 1),
    ("0 or 1", UNPARSEABLE), ("3", UNPARSEABLE), ("I cannot tell", UNPARSEABLE), ("", UNPARSEABLE),
    ("positive, not negative", UNPARSEABLE), ("1 (negative)", UNPARSEABLE),
])
def test_answers_are_parsed_tolerantly_and_never_guessed(text, expected):
    assert parse_answer(text, NAMES) == expected


def test_rows_without_a_label_count_as_wrong():
    gold = np.array([0, 1, 1, 0])
    result = scores(np.array([0, 1, UNPARSEABLE, ABSTAIN]), gold, 2)
    assert result["accuracy"] == 0.5
    assert result["macro_f1"] == pytest.approx(np.mean([2 / 3, 2 / 3]))


def test_the_sample_is_seeded_sorted_and_whole_when_small():
    assert sample_rows(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    rows = sample_rows(100, 10, 3)
    assert len(set(rows)) == 10 and rows.tolist() == sorted(rows) and (rows == sample_rows(100, 10, 3)).all()
    assert (rows != sample_rows(100, 10, 4)).any()


def zero_shot_answer(messages: list[dict]) -> str:
    """Plays the LLM: spam words -> 1, one row unparseable, the rest 0 (in varied formats)."""
    row = messages[-1]["content"].split("Input: ")[-1]
    if "memories" in row:
        return "I am not sure."
    return "Answer: 1 (spam)" if any(w in row for w in ("subscribe", "http", "www", "free")) else "0"


def test_baseline_through_the_server_then_offline_from_the_lock(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(zero_shot_answer) as server:
        write_task(task_dir, base_task(llm={"model": "zs-model", "api_key_env": "ALCHEMIST_TEST_KEY",
                                            "base_url": server.base_url,
                                            "price_per_1k": {"prompt": 1.0, "completion": 2.0}}))
        args = ["baseline", str(task_dir / "task.yaml"), "--sample", "8", "--json", "--quiet"]
        first = CliRunner().invoke(main, args)
        assert first.exit_code == 0, first.output
        assert len(server.requests) == 8
        assert {r["temperature"] for r in server.requests} == {0.0}
        again = CliRunner().invoke(main, [*args, "--offline"])
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 8  # replayed from the lock
    result, replayed = json.loads(first.output), json.loads(again.output)
    zs = result["zero_shot"]
    rows = sample_rows(12, 8, 0)
    texts = [(HAM + SPAM)[i] for i in rows]
    gold = np.array([int(t in SPAM) for t in texts])
    expected = np.array([UNPARSEABLE if "memories" in t else int(any(
        w in t for w in ("subscribe", "http", "www", "free"))) for t in texts])
    assert result["split"] == "test" and result["rows"] == 8
    assert zs["accuracy"] == pytest.approx((expected == gold).mean())
    assert zs["unparseable"] == int((expected == UNPARSEABLE).sum())
    assert zs["cost_usd"] == pytest.approx(8 * (100 * 1.0 + 50 * 2.0) / 1000)  # server's usage
    assert zs["train_cost_usd"] == pytest.approx(zs["cost_per_row_usd"] * 48)
    assert (zs["new"], replayed["zero_shot"]["from_lock"]) == (8, 8)
    assert replayed["zero_shot"]["accuracy"] == zs["accuracy"] and result["labeler"] is None


def test_baseline_beside_the_compiled_labeler(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    (task_dir / "links.py").write_text(
        'def label(x):\n    return 1 if "http" in x or "www" in x or "subscribe" in x else -1\n')
    (task_dir / "song.py").write_text('def label(x):\n    return 0 if "song" in x else -1\n')
    with FakeOpenAI(zero_shot_answer) as server:
        write_task(task_dir, base_task(
            llm={"model": "zs-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url},
            programs={"count": 0, "include": ["links.py", "song.py"], "min_coverage": 0.0}))
        out = tmp_path / "labeler"
        assert CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(out),
                                         "--quiet"]).exit_code == 0
        args = ["baseline", str(task_dir / "task.yaml"), "--split", "valid", "-o", str(out)]
        result = CliRunner().invoke(main, [*args, "--json", "--quiet"])
        assert result.exit_code == 0, result.output
        table = CliRunner().invoke(main, [*args, "--offline"])
    comparison = json.loads(result.output)
    manifest = json.loads(next(out.glob("src/*/manifest.json")).read_text())
    labeler = comparison["labeler"]
    assert comparison["split"] == "valid" and labeler["version"] == manifest["version"]
    assert 0 <= labeler["accuracy"] <= 1 and labeler["compile_cost_usd"] == 0
    assert "compiled labeler" in table.output and "unparseable" in table.output


def test_a_missing_split_or_labeler_is_one_line_and_exit_2(task_dir, tmp_path):
    task = base_task()
    del task["data"]["test"]
    write_task(task_dir, task)
    result = CliRunner().invoke(main, ["baseline", str(task_dir / "task.yaml"), "--split", "test"])
    assert result.exit_code == 2
    assert result.output == "error: --split test: the task has no data.test (a labeled split)\n"
    result = CliRunner().invoke(main, ["baseline", str(task_dir / "task.yaml"), "-o",
                                       str(tmp_path / "nothing"), "--offline"])
    assert result.exit_code == 2  # before any request
    assert result.output == f"error: -o {tmp_path / 'nothing'}: no labeler there (compile the task into it first)\n"
