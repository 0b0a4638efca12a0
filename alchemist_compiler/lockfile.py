"""alchemist.lock: every LLM exchange, as JSON lines, keyed by a hash of the request."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import LLMError


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its answer."""

    request_hash: str
    model: str
    messages: list[dict]
    params: dict
    response: str
    usage: dict  # {"prompt_tokens": int, "completion_tokens": int}
    cost: float


def request_hash(model: str, messages, params: dict) -> str:
    """sha256 of the canonical JSON of what determines an answer (not the server's address)."""
    canonical = json.dumps(
        {"model": model, "messages": list(messages), "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Lockfile:
    """Recorded exchanges; new ones are appended in request order when saved."""

    def __init__(self, path: Path):
        self.path = path
        self._entries: dict[str, Exchange] = {}
        self._dirty = False
        if path.is_file():
            self._load()

    def _load(self) -> None:
        for number, line in enumerate(self.path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            try:
                exchange = Exchange(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as err:
                raise LLMError(f"{self.path.name}: line {number}: not a lock entry ({err})") from None
            self._entries[exchange.request_hash] = exchange

    def get(self, key: str) -> Exchange | None:
        return self._entries.get(key)

    def add(self, exchange: Exchange) -> None:
        self._entries[exchange.request_hash] = exchange
        self._dirty = True

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_cost(self) -> float:
        """USD of every recorded answer, whenever it was asked."""
        return sum(e.cost for e in self._entries.values())

    def save(self) -> None:
        """Write atomically, only when something was added."""
        if not self._dirty:
            return
        lines = [json.dumps(asdict(e), ensure_ascii=False) for e in self._entries.values()]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".alchemist.lock.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
        self._dirty = False
