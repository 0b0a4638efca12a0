"""Several program sources: `llm` as a list, each source with its model, server, key, prices and
share of the slots; programs and the cost ledger record which source wrote what."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import base_task, write_task
from openai_server import FakeOpenAI
from test_compile_llm import answer

from alchemist_compiler.cli import main
from alchemist_compiler.errors import TaskError
from alchemist_compiler.prompts import slot_sources
from alchemist_compiler.task import load_task

PRICES = {"big": {"prompt": 0.01, "completion": 0.03}, "small": {"prompt": 0.001, "completion": 0.002}}


def source(server, model, key, share):
    return {"model": model, "base_url": server.base_url, "api_key_env": key, "share": share,
            "price_per_1k": PRICES[model]}


def test_slots_follow_the_shares_and_do_not_move_when_count_grows():
    assert slot_sources([1], 4) == [0, 0, 0, 0]
    assert slot_sources([2, 1], 9) == [0, 1, 0, 0, 1, 0, 0, 1, 0]
    assert slot_sources([1, 3], 8).count(1) == 6
    assert slot_sources([2, 1], 12)[:9] == slot_sources([2, 1], 9)


def test_each_source_writes_its_slots_and_is_paid_at_its_prices(task_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BIG_KEY", "sk-big")
    monkeypatch.setenv("SMALL_KEY", "sk-small")
    with FakeOpenAI(answer) as big, FakeOpenAI(answer) as small:
        write_task(task_dir, base_task(
            llm=[source(big, "big", "BIG_KEY", 2), source(small, "small", "SMALL_KEY", 1)],
            programs={"count": 3, "strategies": ["general", "keywords", "rules"],
                      "min_coverage": 0.0, "repair_rounds": 0},
        ))
        args = ["compile", str(task_dir / "task.yaml"), "-o"]
        result = CliRunner().invoke(main, [*args, str(tmp_path / "a")])
        assert result.exit_code == 0, result.output
        offline = CliRunner().invoke(main, [*args, str(tmp_path / "b"), "--offline"])
        assert offline.exit_code == 0, offline.output
        big_asked = [r["messages"][-1]["content"] for r in big.requests]
        small_asked = [r["messages"][-1]["content"] for r in small.requests]
    assert {r["model"] for r in big.requests} == {"big"} and {r["model"] for r in small.requests} == {"small"}
    assert len(small_asked) == 1 and "(this is function 2)" in small_asked[0]  # slot 2 of [0, 1, 0]
    assert len(big_asked) == 4  # the keywords and rules questions (the primary source), slots 1, 3
    manifest = json.loads(next((tmp_path / "a").glob("src/*/manifest.json")).read_text())
    assert [p["source"] for p in manifest["programs"]] == ["big", "small", "big"]
    second = next((tmp_path / "a").glob("src/*/programs/p02_*.py")).read_text()
    assert "Written by small as program 2 (strategy: keywords)" in second
    by_source = {s["source"]: s for s in manifest["cost"]["by_source"]}
    assert by_source["big"]["requests"] == 4 and by_source["small"]["requests"] == 1
    assert by_source["small"]["cost_usd"] == pytest.approx((100 * 0.001 + 50 * 0.002) / 1000)
    assert by_source["big"]["cost_usd"] == pytest.approx(4 * (100 * 0.01 + 50 * 0.03) / 1000)
    assert manifest["cost"]["cost_usd"] == pytest.approx(by_source["big"]["cost_usd"]
                                                          + by_source["small"]["cost_usd"])
    readme = (tmp_path / "a" / "README.md").read_text()
    assert "| programs by small (small) | 1 |" in readme
    same = [p.read_bytes() for p in sorted((tmp_path / "b").glob("src/*/**/*")) if p.is_file()]
    assert same == [p.read_bytes() for p in sorted((tmp_path / "a").glob("src/*/**/*")) if p.is_file()]


@pytest.mark.parametrize(("llm", "error"), [
    ([{"model": "m"}, {"model": "m"}], "llm: sources 0 and 1 are both called 'm'; give each a name"),
    ([{"model": "m"}, {"model": "n", "share": 0}], "llm.1.share: Input should be greater than 0"),
    ({"model": "m", "temperature": 3}, "llm.temperature: Input should be less than or equal to 2"),
    ({"model": "m", "modle": "x"}, "llm.modle: unknown key (did you mean model?)"),
])
def test_source_errors_name_the_key(task_dir, llm, error):
    with pytest.raises(TaskError) as caught:
        load_task(write_task(task_dir, base_task(llm=llm)))
    assert str(caught.value) == f"task.yaml: {error}"


def test_named_sources_may_share_a_model(task_dir):
    task = load_task(write_task(task_dir, base_task(llm=[{"model": "m", "name": "cold", "temperature": 0},
                                                         {"model": "m", "name": "hot"}])))
    assert [s.label for s in task.sources] == ["cold", "hot"] and task.llm.label == "cold"
