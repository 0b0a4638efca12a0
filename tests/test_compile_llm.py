"""Compiling against a local OpenAI-compatible server; hand-written programs with no LLM at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import base_task, write_task
from openai_server import FakeOpenAI

from alchemist_compiler.cli import main

PROGRAMS = {
    "general": 'import re\n\ndef label(x):\n    return 1 if re.search(r"http|www", x) else -1\n',
    "keywords": 'def label_function(x):\n    return 1 if "subscribe" in x.lower() else -1\n',
    "rules": 'def label(x):\n    return 0 if "song" in x or "video" in x else -1\n',
    "description": 'def label(x):\n    return 0 if len(x.split()) <= 4 and "!" not in x else -1\n',
}


def answer(messages: list[dict]) -> str:
    """Plays the LLM: supplementary text for first-stage questions, else a program."""
    prompt = messages[-1]["content"]
    if "## Function signature" not in prompt:
        return "spam: subscribe, free, click, channel\nham: song, love, video"
    strategy = next(s for s in PROGRAMS if f"function {list(PROGRAMS).index(s) + 1})" in prompt)
    return f"Here is the function.\n```python\n{PROGRAMS[strategy]}```"


@pytest.fixture
def llm_task(task_dir, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    return task_dir


def compile_args(task_dir, out, *extra):
    return ["compile", str(task_dir / "task.yaml"), "-o", str(out), "--quiet", *extra]


def printed(result) -> str:
    """The compile's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def with_server(task_dir, server, strategies):
    task = base_task(
        llm={"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url},
        programs={"count": len(strategies), "strategies": strategies, "min_coverage": 0.0},
    )
    write_task(task_dir, task)


def test_compile_through_http_with_retries_then_offline_from_the_lock(llm_task, tmp_path):
    strategies = list(PROGRAMS)
    with FakeOpenAI(answer, failures=[429, 500]) as server:
        with_server(llm_task, server, strategies)
        result = CliRunner().invoke(main, compile_args(llm_task, tmp_path / "a")[:-1])
        assert result.exit_code == 0, result.output
        assert server.statuses[:2] == [429, 500]
        asked = len(server.requests) - 2
        assert asked == 3 + len(strategies)  # first-stage questions (keywords, rules, description), then one per slot
        lock = [json.loads(line) for line in (llm_task / "alchemist.lock").read_text().splitlines()]
        assert len(lock) == asked
        paid = sum(entry["cost"] for entry in lock)
        assert f"LLM: 0 from the lock, {asked} new, ${paid:.4f} spent in this run" in printed(result)
        assert "retry 1 of 5" in printed(result) and "HTTP 429" in printed(result)
        args = compile_args(llm_task, tmp_path / "b", "--offline")
        result = CliRunner().invoke(main, [a for a in args if a != "--quiet"])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == asked + 2  # nothing new was asked
        assert f"LLM: {asked} from the lock, 0 new, $0.0000 spent in this run" in printed(result)
        assert f"alchemist.lock: {asked} answers, ${paid:.4f} in all" in printed(result)
    manifest = json.loads(next((tmp_path / "a").glob("src/*/manifest.json")).read_text())
    assert len(manifest["programs"]) == 4
    assert manifest["cost"]["requests"] == asked
    assert manifest["cost"]["prompt_tokens"] == 100 * asked  # the server's usage is recorded
    assert manifest["cost"]["zero_shot"]["rows"] == 48
    programs = sorted((tmp_path / "a").glob("src/*/programs/*.py"))
    assert any("def label(x):" in p.read_text() and "subscribe" in p.read_text() for p in programs)
    same = [p.read_bytes() for p in sorted((tmp_path / "b").glob("src/*/**/*")) if p.is_file()]
    assert same == [p.read_bytes() for p in sorted((tmp_path / "a").glob("src/*/**/*")) if p.is_file()]


@pytest.fixture
def previous_output(tmp_path):
    """A labeler from an earlier compile (the layout and manifest marker emit writes)."""
    out = tmp_path / "outputs" / "labeler"
    (out / "src" / "old_labeler").mkdir(parents=True)
    (out / "src" / "old_labeler" / "manifest.json").write_text('{"generator": "alchemist"}')
    (out / "README.md").write_text("previous labeler")
    return out


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_offline_without_lock_fails_and_leaves_the_output_untouched(llm_task, previous_output):
    with FakeOpenAI(answer) as server:
        with_server(llm_task, server, ["general"])
        result = CliRunner().invoke(main, compile_args(llm_task, previous_output, "--offline"))
    assert result.exit_code == 2
    assert re.fullmatch(r"error: --offline: 1 request\(s\) are not in alchemist.lock \(first: .*\)\n",
                        result.output)
    assert listing(previous_output) == ["README.md", "src", "src/old_labeler",
                                        "src/old_labeler/manifest.json"]


def test_notes_on_the_task_and_data_are_printed_before_any_request(llm_task, tmp_path):
    task = base_task(programs={"count": 2})
    del task["data"]["valid"]
    write_task(llm_task, task)
    args = ["compile", str(llm_task / "task.yaml"), "-o", str(tmp_path / "out"), "--offline"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    output = printed(result)
    assert "note: no data.valid: the exemplars strategy is left out" in output
    assert output.index("note:") < output.index("error: --offline")


def test_failure_while_emitting_leaves_no_half_written_output(task_dir, previous_output, monkeypatch):
    from alchemist_compiler import emit

    def broken_check(*args, **kwargs):
        raise RuntimeError("simulated failure after the package was written")

    monkeypatch.setattr(emit, "check_installed_labeler", broken_check)
    (task_dir / "good.py").write_text(PROGRAMS["general"])
    write_task(task_dir, base_task(programs={"count": 0, "include": ["good.py"], "min_coverage": 0.0}))
    result = CliRunner().invoke(main, compile_args(task_dir, previous_output))
    assert isinstance(result.exception, RuntimeError)
    assert listing(previous_output) == ["README.md", "src", "src/old_labeler",
                                        "src/old_labeler/manifest.json"]
    assert [p.name for p in previous_output.parent.iterdir()] == ["labeler"]  # no build dir left


def test_hand_written_programs_need_no_llm(task_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ALCHEMIST_TEST_KEY", raising=False)
    paths = []
    for name in ("links", "subscribe", "song"):
        path = task_dir / f"{name}.py"
        path.write_text(PROGRAMS[{"links": "general", "subscribe": "keywords", "song": "rules"}[name]])
        paths.append(path.name)
    write_task(task_dir, base_task(programs={"count": 0, "include": paths, "min_coverage": 0.0}))
    result = CliRunner().invoke(main, compile_args(task_dir, tmp_path / "out"))
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out").glob("src/*/manifest.json")).read_text())
    assert [p["strategy"] for p in manifest["programs"]] == ["include"] * 3
    assert manifest["cost"]["requests"] == 0 and manifest["label_model"] == "snorkel"
    assert not (task_dir / "alchemist.lock").exists()


def test_a_rejected_program_is_reported_and_the_compile_goes_on(task_dir, tmp_path):
    (task_dir / "bad.py").write_text("import os\n\ndef label(x):\n    return 1\n")
    (task_dir / "good.py").write_text(PROGRAMS["general"])
    (task_dir / "never.py").write_text("def label(x):\n    return -1\n")
    write_task(task_dir, base_task(programs={"count": 0, "include": ["bad.py", "good.py", "never.py"],
                                             "min_coverage": 0.0}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, compile_args(task_dir, out)[:-1])
    assert result.exit_code == 0, result.output
    assert "bad.py: line 1: forbidden-import" in result.output
    assert "only 1 program kept: snorkel needs at least 3, using majority" in printed(result)
    manifest = json.loads(next(out.glob("src/*/manifest.json")).read_text())
    assert len(manifest["programs"]) == 1
    assert any(d.startswith("bad.py: line 1: forbidden-import") for d in manifest["dropped"])
    readme = (out / "README.md").read_text()
    assert "\n- bad.py: line 1: forbidden-import" in readme
    assert re.search(r"^- `include_\w+`, never.py: never votes on train$", readme, re.MULTILINE)
    assert "  ````python\n  def label(x):\n      return -1\n  ````" in readme


def test_dropped_and_rejected_programs_are_repaired_with_feedback(llm_task, tmp_path):
    def answer_with_failures(messages: list[dict]) -> str:
        prompt = messages[-1]["content"]
        if prompt.startswith("Your function was dropped"):
            fixed = PROGRAMS["keywords"] if "never votes" in prompt else PROGRAMS["rules"]
            return f"```python\n{fixed}```"
        if "## Function signature" not in prompt:
            return "spam: subscribe\nham: song"
        if "function 1)" in prompt:
            return f"```python\n{PROGRAMS['general']}```"
        if "function 2)" in prompt:
            return "```python\ndef label(x):\n    return -1\n```"  # never votes: dropped
        return "```python\nimport os\n\ndef label(x):\n    return 1\n```"  # rejected by vetting

    with FakeOpenAI(answer_with_failures) as server:
        task = base_task(
            llm={"model": "m", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": server.base_url},
            programs={"count": 3, "strategies": ["general"], "min_coverage": 0.0, "repair_rounds": 2},
        )
        write_task(llm_task, task)
        result = CliRunner().invoke(main, compile_args(llm_task, tmp_path / "out"))
        assert result.exit_code == 0, result.output
        repairs = [r["messages"] for r in server.requests if len(r["messages"]) == 4]
    assert len(repairs) == 2  # one per failed program, none in round 2 (both fixed)
    by_reason = {m[-1]["content"].splitlines()[0]: m for m in repairs}
    never = next(m for reason, m in by_reason.items() if "never votes on train" in reason)
    assert never[2] == {"role": "assistant", "content": "```python\ndef label(x):\n    return -1\n```"}
    assert "your function abstained" in never[-1]["content"]  # valid rows it missed are shown
    assert "the correct label is 1 (spam)" in never[-1]["content"]
    vetting = next(m for reason, m in by_reason.items() if "forbidden-import" in reason)
    assert "line 1: forbidden-import" in vetting[-1]["content"]
    manifest = json.loads(next((tmp_path / "out").glob("src/*/manifest.json")).read_text())
    assert len(manifest["programs"]) == 3  # the good one and both replacements
    assert manifest["cost"]["requests"] == 3 + 2  # "general" needs no first-stage question
    assert any(d.startswith("program 3 (general): line 1: forbidden-import") for d in manifest["dropped"])
    readme = (tmp_path / "out" / "README.md").read_text()
    kept = {p["file"][4:].removesuffix(".py") for p in manifest["programs"]}  # pNN_<name>.py
    for number, reason in ((2, "never votes on train"), (3, "line 1: forbidden-import")):
        entry = re.search(rf"^- (`\w+`, )?program {number} \(general\): {reason}.*"
                          rf"Replaced by program {number} \(general\), repair 1 \((\w+)\)\.$",
                          readme, re.MULTILINE)
        assert entry is not None and entry.group(2) in kept
    assert "  ````python\n  def label(x):\n      return -1\n  ````" in readme  # the dropped source
    assert "  ````python\n  import os\n" in readme  # the rejected answer's code


def test_auto_label_model_is_judged_by_the_distilled_model_on_valid_and_recorded(task_dir, tmp_path):
    """Each candidate's score is the valid Brier score of the model distilled from its soft labels:
    the chosen kind's is the emitted labeler's own, recomputed here from its probabilities."""
    paths = []
    for name, source in PROGRAMS.items():
        (task_dir / f"{name}.py").write_text(source)
        paths.append(f"{name}.py")
    write_task(task_dir, base_task(programs={"count": 0, "include": paths, "min_coverage": 0.0},
                                   label_model={"kind": "auto"}))
    result = CliRunner().invoke(main, compile_args(task_dir, tmp_path / "out")[:-1])
    assert result.exit_code == 0, result.output
    package = next((tmp_path / "out").glob("src/*"))
    params = json.loads((package / "label_model.json").read_text())
    manifest = json.loads((package / "manifest.json").read_text())
    selection = params["selection"]
    scores = selection["valid_brier"]
    assert list(scores) == ["snorkel", "majority", "weighted_majority", "dawid_skene", "flyingsquid"]
    assert selection["criterion"] == "brier" and selection["by"] == "distilled accuracy on valid, hashing features"
    assert params["kind"] == manifest["label_model"] and selection["default"] == "snorkel"
    best = min(scores, key=scores.get)
    assert selection.get("best", "snorkel") == best
    assert params["kind"] == (best if selection.get("p_value", 1.0) < 0.05 / (len(scores) - 1) else "snorkel")
    valid = [json.loads(line) for line in (task_dir / "valid.jsonl").read_text().splitlines()]
    probe = ("import json, sys; from {0} import Labeler; "
             "print(json.dumps(Labeler().predict_proba(json.loads(sys.argv[1])).tolist()))")
    shown = subprocess.run([sys.executable, "-c", probe.format(package.name),
                            json.dumps([row["text"] for row in valid])], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONPATH": str(package.parent)})
    labels = np.eye(2)[[row["label"] for row in valid]]
    brier = np.square(np.asarray(json.loads(shown.stdout)) - labels).sum(axis=1).mean()
    assert scores[params["kind"]] == pytest.approx(brier, abs=1e-5)
    assert "label model auto: distilling a hashing model from each candidate's soft labels" in printed(result)
