"""Stage 4: ask the LLM (any OpenAI-compatible endpoint), through the lock file.

A request whose hash is in the lock is answered from it with no network call. 408, 409, 429, 5xx,
timeouts and dropped connections are retried up to `llm.max_retries` times (the server's
retry-after, else exponential backoff), each retry printed above the progress bar. A server that
cannot be reached at all (connection refused, unknown host) gets one quick retry, then an error
naming the base_url; other HTTP errors (401, 404, ...) fail at once.

A task may name several sources (task.yaml's `llm` as a list): each request says which one answers
it (`Request.source`), with that source's model, parameters, server, key and prices.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import LLMError
from .lockfile import Exchange, Lockfile, request_hash
from .task import LLMSpec

Messages = Sequence[dict]
RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx
UNREACHABLE_RETRY_S = 0.5  # the one quick retry when the server cannot be reached
MAX_RETRY_AFTER_S = 60.0  # a longer retry-after is replaced by exponential backoff


@dataclass(frozen=True)
class Request:
    """Messages to send, and what they are for (shown in errors and progress)."""

    purpose: str
    messages: Messages
    source: int = 0  # the LLM source that answers it (an index into the stage's specs)


def estimate_tokens(text: str) -> int:
    """~4 characters per token: the usual rule of thumb for English with GPT tokenizers."""
    return max(1, (len(text) + 3) // 4)


def cost_of(spec: LLMSpec, prompt_tokens: int, completion_tokens: int) -> float:
    price = spec.price_per_1k
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1000


def params_of(spec: LLMSpec) -> dict:
    """The request parameters that shape an answer (part of its hash)."""
    return {"temperature": spec.temperature, "max_tokens": spec.max_tokens}


def _retry_after(err) -> float | None:
    """The server's retry-after(-ms) header in seconds, when it gives a usable one."""
    headers = err.response.headers if getattr(err, "response", None) is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:
            continue
        if 0 <= seconds <= MAX_RETRY_AFTER_S:
            return seconds
    return None


def _retried(err) -> bool:
    """Worth retrying: no answer (timeout, dropped connection), 408, 409, 429 or 5xx."""
    status = getattr(err, "status_code", None)
    return status is None or status in RETRIED_STATUSES or status >= 500


def _backoff(retry: int) -> float:
    """The openai SDK's schedule: 0.5 s doubling up to 8 s, minus up to 25% jitter."""
    return min(0.5 * 2**retry, 8.0) * (1 - 0.25 * random.random())


def _unreachable(err: BaseException | None) -> bool:
    """Connection refused or unknown host (anywhere in the chain): waiting will not help."""
    while err is not None:
        if isinstance(err, (ConnectionRefusedError, socket.gaierror)):
            return True
        err = err.__cause__ or err.__context__
    return False


class LLMStage:
    """Answers requests from the lock, or from the endpoint (unless offline).

    Counts what this run took from the lock and what it fetched (`from_lock`, `fetched`).
    """

    def __init__(self, spec: LLMSpec | list[LLMSpec], lock: Lockfile, *, offline: bool = False,
                 show_progress: bool = False, console: Console | None = None):
        self.specs = spec if isinstance(spec, list) else [spec]
        self.lock = lock
        self.offline = offline
        self.show_progress = show_progress
        self.console = console or Console(stderr=True)
        self.from_lock: set[str] = set()  # request hashes answered by the lock in this run
        self.fetched: dict[str, Exchange] = {}  # answers fetched in this run
        self.source_of: dict[str, int] = {}  # request hash -> the source asked, in this run
        self._unreachable: LLMError | None = None  # set once: later requests fail at once
        self._unreachable_lock = threading.Lock()

    @property
    def spent_usd(self) -> float:
        """What this run's requests cost (answers from the lock cost nothing)."""
        return sum(e.cost for e in self.fetched.values())

    def ask_all(self, requests: Sequence[Request]) -> list[Exchange]:
        """Answers in request order; missing ones are fetched concurrently, then recorded."""
        keys = [self._key(r) for r in requests]
        self.source_of |= {k: r.source for k, r in zip(keys, requests)}
        missing = [(k, r) for k, r in dict(zip(keys, requests)).items() if not self.lock.get(k)]
        self.from_lock |= set(keys) - {k for k, _ in missing} - set(self.fetched)
        if missing and self.offline:
            raise LLMError(
                f"--offline: {len(missing)} request(s) are not in {self.lock.path.name} "
                f"(first: {missing[0][1].purpose})"
            )
        for source in sorted({r.source for _, r in missing}):
            self._fetch([(k, r) for k, r in missing if r.source == source], self.specs[source])
        return [self.lock.get(k) for k in keys]

    def _key(self, request: Request) -> str:
        spec = self.specs[request.source]
        return request_hash(spec.model, request.messages, params_of(spec))

    def _fetch(self, missing: list[tuple[str, Request]], spec: LLMSpec) -> None:
        """Ask one source for the missing answers, concurrently; record those that arrive."""
        client = self._client(spec)
        columns = (TextColumn(f"asking {spec.label}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, disable=not self.show_progress, transient=True,
                      console=self.console) as progress:
            bar = progress.add_task("llm", total=len(missing))
            with ThreadPoolExecutor(spec.concurrency) as pool:
                futures = [pool.submit(self._ask, client, k, r, progress) for k, r in missing]
                for future in futures:
                    future.add_done_callback(lambda _: progress.advance(bar))
        failures = []
        for future in futures:  # answers that did arrive are recorded even if others failed
            try:
                exchange = future.result()
            except LLMError as err:
                failures.append(err)
            else:
                self.lock.add(exchange)
                self.fetched[exchange.request_hash] = exchange
        self.lock.save()
        if failures:
            raise failures[0]

    def _client(self, spec: LLMSpec):
        import openai

        api_key = os.environ.get(spec.api_key_env)
        if not api_key:
            raise LLMError(
                f"{self._key_name(spec)}.api_key_env: environment variable {spec.api_key_env} is not set"
            )
        return openai.OpenAI(
            api_key=api_key,
            base_url=spec.base_url or os.environ.get("OPENAI_BASE_URL") or None,
            max_retries=0,  # retried here, where each retry can be shown
            timeout=spec.timeout_s,
        )

    def _key_name(self, spec: LLMSpec) -> str:
        """The source's key in task.yaml: llm, or llm.N among several."""
        return "llm" if len(self.specs) == 1 else f"llm.{self.specs.index(spec)}"

    def _ask(self, client, key: str, request: Request, progress: Progress) -> Exchange:
        """One request, retried as the module docstring says."""
        import openai

        spec = self.specs[request.source]
        retry = 0
        while True:
            if self._unreachable is not None:
                raise self._unreachable
            try:
                completion = client.chat.completions.create(
                    model=spec.model, messages=list(request.messages), **params_of(spec)
                )
                return self._record(key, request, completion)
            except (openai.APIStatusError, openai.APIConnectionError) as err:
                failure = err
            delay = self._retry_delay(failure, retry, spec)
            if delay is None:
                raise self._final_error(failure, request, retry, client.base_url)
            retry += 1
            if self.show_progress:
                progress.console.print(
                    f"[yellow]retry {retry} of {self._retries_allowed(failure, spec)}[/] for "
                    f"{request.purpose}: {_describe(failure)}, waiting {delay:.1f} s"
                )
            time.sleep(delay)

    def _retries_allowed(self, err, spec: LLMSpec) -> int:
        return min(1, spec.max_retries) if _unreachable(err) else spec.max_retries

    def _retry_delay(self, err, retry: int, spec: LLMSpec) -> float | None:
        """Seconds to wait before retrying, or None when this error is final."""
        if retry >= self._retries_allowed(err, spec) or not _retried(err):
            return None
        if _unreachable(err):
            return UNREACHABLE_RETRY_S
        after = _retry_after(err)
        return after if after is not None else _backoff(retry)

    def _final_error(self, err, request: Request, retries: int, base_url) -> LLMError:
        if _unreachable(err):
            with self._unreachable_lock:
                self._unreachable = self._unreachable or LLMError(
                    f"cannot reach the LLM server at {base_url} "
                    f"({self._key_name(self.specs[request.source])}.base_url): {err.__cause__}"
                )
            return self._unreachable
        return LLMError(
            f"LLM request for {request.purpose} failed after {retries} retries: "
            f"{_describe(err)} from {base_url}"
        )

    def _record(self, key: str, request: Request, completion) -> Exchange:
        """The exchange to lock: the answer, its token usage (estimated if not reported), its cost."""
        spec = self.specs[request.source]
        text = completion.choices[0].message.content or ""
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else sum(
            estimate_tokens(m["content"]) for m in request.messages
        )
        completion_tokens = usage.completion_tokens if usage else estimate_tokens(text)
        return Exchange(
            request_hash=key,
            model=spec.model,
            messages=list(request.messages),
            params=params_of(spec),
            response=text,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            cost=round(cost_of(spec, prompt_tokens, completion_tokens), 8),
        )


def _describe(err) -> str:
    """HTTP 429, APITimeoutError, ...: what went wrong with one attempt."""
    status = getattr(err, "status_code", None)
    if status in (401, 403):
        return f"HTTP {status} (is the key in llm.api_key_env right?)"
    return f"HTTP {status}" if status is not None else type(err).__name__
