"""Stage 4: ask the LLM (any OpenAI-compatible endpoint), through the lock file.

A request whose hash is in the lock is answered from it with no network call. The openai SDK
retries 429, 5xx, timeouts and connection errors with exponential backoff (`llm.max_retries`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import LLMError
from .lockfile import Exchange, Lockfile, request_hash
from .task import LLMSpec

Messages = Sequence[dict]


@dataclass(frozen=True)
class Request:
    """Messages to send, and what they are for (shown in errors and progress)."""

    purpose: str
    messages: Messages


def estimate_tokens(text: str) -> int:
    """~4 characters per token: the usual rule of thumb for English with GPT tokenizers."""
    return max(1, (len(text) + 3) // 4)


def cost_of(spec: LLMSpec, prompt_tokens: int, completion_tokens: int) -> float:
    price = spec.price_per_1k
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1000


class LLMStage:
    """Answers requests from the lock, or from the endpoint (unless offline)."""

    def __init__(self, spec: LLMSpec, lock: Lockfile, *, offline: bool = False,
                 show_progress: bool = False):
        self.spec = spec
        self.lock = lock
        self.offline = offline
        self.show_progress = show_progress
        self.params = {"temperature": spec.temperature, "max_tokens": spec.max_tokens}

    def ask_all(self, requests: Sequence[Request]) -> list[Exchange]:
        """Answers in request order; missing ones are fetched concurrently, then recorded."""
        keys = [request_hash(self.spec.model, r.messages, self.params) for r in requests]
        missing = [(k, r) for k, r in dict(zip(keys, requests)).items() if not self.lock.get(k)]
        if missing:
            self._fetch(missing)
        return [self.lock.get(k) for k in keys]

    def _fetch(self, missing: list[tuple[str, Request]]) -> None:
        if self.offline:
            raise LLMError(
                f"--offline: {len(missing)} request(s) are not in {self.lock.path.name} "
                f"(first: {missing[0][1].purpose})"
            )
        client = self._client()
        columns = (TextColumn(f"asking {self.spec.model}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, disable=not self.show_progress, transient=True) as progress:
            bar = progress.add_task("llm", total=len(missing))
            with ThreadPoolExecutor(self.spec.concurrency) as pool:
                futures = [pool.submit(self._ask, client, k, r) for k, r in missing]
                for future in futures:
                    future.add_done_callback(lambda _: progress.advance(bar))
        failures = []
        for future in futures:  # answers that did arrive are recorded even if others failed
            try:
                self.lock.add(future.result())
            except LLMError as err:
                failures.append(err)
        self.lock.save()
        if failures:
            raise failures[0]

    def _client(self):
        import openai

        api_key = os.environ.get(self.spec.api_key_env)
        if not api_key:
            raise LLMError(
                f"llm.api_key_env: environment variable {self.spec.api_key_env} is not set"
            )
        return openai.OpenAI(
            api_key=api_key,
            base_url=self.spec.base_url or os.environ.get("OPENAI_BASE_URL") or None,
            max_retries=self.spec.max_retries,
            timeout=self.spec.timeout_s,
        )

    def _ask(self, client, key: str, request: Request) -> Exchange:
        import openai

        try:
            completion = client.chat.completions.create(
                model=self.spec.model, messages=list(request.messages), **self.params
            )
        except openai.APIStatusError as err:
            raise LLMError(
                f"LLM request for {request.purpose} failed after {self.spec.max_retries} "
                f"retries: HTTP {err.status_code} from {client.base_url}"
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as err:
            raise LLMError(
                f"LLM request for {request.purpose} failed after {self.spec.max_retries} "
                f"retries: {type(err).__name__} ({client.base_url})"
            ) from None
        return self._record(key, request, completion)

    def _record(self, key: str, request: Request, completion) -> Exchange:
        text = completion.choices[0].message.content or ""
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else sum(
            estimate_tokens(m["content"]) for m in request.messages
        )
        completion_tokens = usage.completion_tokens if usage else estimate_tokens(text)
        return Exchange(
            request_hash=key,
            model=self.spec.model,
            messages=list(request.messages),
            params=self.params,
            response=text,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            cost=round(cost_of(self.spec, prompt_tokens, completion_tokens), 8),
        )
