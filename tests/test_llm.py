"""Stage 4 against a local OpenAI-compatible server: real HTTP, the real openai client."""

from __future__ import annotations

import json

import pytest
from openai_server import FakeOpenAI

from alchemist_compiler.errors import LLMError
from alchemist_compiler.llm import LLMStage, Request
from alchemist_compiler.lockfile import Lockfile
from alchemist_compiler.task import LLMSpec


def echo(messages: list[dict]) -> str:
    return "answer to: " + messages[-1]["content"]


def requests_of(*texts: str) -> list[Request]:
    return [Request(f"r{i}", ({"role": "user", "content": t},)) for i, t in enumerate(texts)]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def spec(server: FakeOpenAI, **overrides) -> LLMSpec:
    return LLMSpec(model="m", base_url=server.base_url, api_key_env="ALCHEMIST_TEST_KEY",
                   price_per_1k={"prompt": 1.0, "completion": 2.0}, **overrides)


def test_answers_are_recorded_then_reused_without_network(tmp_path, key):
    lock_path = tmp_path / "alchemist.lock"
    with FakeOpenAI(echo) as server:
        stage = LLMStage(spec(server), Lockfile(lock_path))
        first = stage.ask_all(requests_of("a", "b", "c"))
        assert [e.response for e in first] == ["answer to: a", "answer to: b", "answer to: c"]
        assert len(server.requests) == 3
        assert first[0].usage == {"prompt_tokens": 100, "completion_tokens": 50}
        assert first[0].cost == pytest.approx(0.1 + 0.1)
        again = LLMStage(spec(server), Lockfile(lock_path)).ask_all(requests_of("a", "b", "c"))
        assert len(server.requests) == 3  # no new call
    assert [e.response for e in again] == [e.response for e in first]
    lines = lock_path.read_text().splitlines()
    assert len(lines) == 3
    entry = json.loads(lines[0])
    assert set(entry) == {"request_hash", "model", "messages", "params", "response", "usage", "cost"}


def test_429_and_500_are_retried(tmp_path, key):
    with FakeOpenAI(echo, failures=[429, 500, 503]) as server:
        exchanges = LLMStage(spec(server, concurrency=1), Lockfile(tmp_path / "l")).ask_all(
            requests_of("x"))
    assert exchanges[0].response == "answer to: x"
    assert server.statuses == [429, 500, 503, 200]


def test_clear_error_after_the_last_retry_keeps_successful_answers(tmp_path, key):
    with FakeOpenAI(echo, failures=[500] * 3) as server:
        stage = LLMStage(spec(server, max_retries=2, concurrency=1), Lockfile(tmp_path / "l"))
        with pytest.raises(LLMError, match=r"failed after 2 retries: HTTP 500"):
            stage.ask_all(requests_of("x", "y"))
    assert server.statuses == [500, 500, 500, 200]
    assert len(Lockfile(tmp_path / "l")) == 1  # the answer that arrived is kept


def test_offline_refuses_missing_answers(tmp_path, key):
    with FakeOpenAI(echo) as server:
        stage = LLMStage(spec(server), Lockfile(tmp_path / "l"), offline=True)
        with pytest.raises(LLMError, match="--offline: 1 request"):
            stage.ask_all(requests_of("x"))
        assert server.requests == []


def test_missing_api_key_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("ALCHEMIST_TEST_KEY", raising=False)
    with FakeOpenAI(echo) as server:
        with pytest.raises(LLMError, match="ALCHEMIST_TEST_KEY is not set"):
            LLMStage(spec(server), Lockfile(tmp_path / "l")).ask_all(requests_of("x"))


def test_base_url_from_environment(tmp_path, key, monkeypatch):
    with FakeOpenAI(echo) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        s = LLMSpec(model="m", api_key_env="ALCHEMIST_TEST_KEY")
        LLMStage(s, Lockfile(tmp_path / "l")).ask_all(requests_of("x"))
        assert len(server.requests) == 1


def test_request_hash_depends_on_model_messages_and_params(tmp_path, key):
    with FakeOpenAI(echo) as server:
        LLMStage(spec(server), Lockfile(tmp_path / "l")).ask_all(requests_of("x"))
        LLMStage(spec(server, temperature=0.1), Lockfile(tmp_path / "l")).ask_all(requests_of("x"))
        assert len(server.requests) == 2
        assert server.requests[1]["temperature"] == 0.1


def closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize(("base_url", "reason"), [
    (closed_port_url(), "Connection refused"),
    ("http://no-such-host.invalid/v1", ""),  # the resolver's wording varies
])
def test_an_unreachable_server_fails_fast_naming_the_base_url(tmp_path, key, base_url, reason):
    import time

    stage = LLMStage(LLMSpec(model="m", base_url=base_url, api_key_env="ALCHEMIST_TEST_KEY",
                             max_retries=5, concurrency=2), Lockfile(tmp_path / "l"))
    started = time.perf_counter()
    with pytest.raises(LLMError) as err:
        stage.ask_all(requests_of("x", "y", "z", "w"))
    assert time.perf_counter() - started < 5  # one quick retry, not the backoff of a 429
    assert str(err.value).startswith(f"cannot reach the LLM server at {base_url}/ (llm.base_url): ")
    assert reason in str(err.value)


def test_retries_are_shown_in_the_progress_output(tmp_path, key):
    import io

    from rich.console import Console

    shown = io.StringIO()
    with FakeOpenAI(echo, failures=[429, 503]) as server:
        stage = LLMStage(spec(server, concurrency=1), Lockfile(tmp_path / "l"), show_progress=True,
                         console=Console(file=shown, width=200))
        stage.ask_all(requests_of("x"))
    lines = [line for line in shown.getvalue().splitlines() if line.startswith("retry")]
    assert lines == ["retry 1 of 5 for r0: HTTP 429, waiting 0.0 s",
                     "retry 2 of 5 for r0: HTTP 503, waiting 0.0 s"]


def test_client_errors_are_not_retried(tmp_path, key):
    with FakeOpenAI(echo, failures=[401]) as server:
        stage = LLMStage(spec(server), Lockfile(tmp_path / "l"))
        with pytest.raises(LLMError, match=r"after 0 retries: HTTP 401 \(is the key in llm.api_key_env"):
            stage.ask_all(requests_of("x"))
    assert server.statuses == [401]


def test_answers_from_the_lock_cost_nothing_in_this_run(tmp_path, key):
    lock_path = tmp_path / "alchemist.lock"
    with FakeOpenAI(echo) as server:
        first = LLMStage(spec(server), Lockfile(lock_path))
        first.ask_all(requests_of("a", "b"))
        again = LLMStage(spec(server), Lockfile(lock_path))
        answers = again.ask_all(requests_of("a", "b", "c"))
    assert (len(first.from_lock), len(first.fetched)) == (0, 2)
    assert (len(again.from_lock), len(again.fetched)) == (2, 1)
    assert again.spent_usd == pytest.approx(answers[2].cost)
    assert Lockfile(lock_path).total_cost == pytest.approx(sum(e.cost for e in answers))
    replay = LLMStage(spec(server), Lockfile(lock_path), offline=True)
    replay.ask_all(requests_of("a", "b", "c"))
    assert replay.spent_usd == 0 and len(replay.from_lock) == 3
