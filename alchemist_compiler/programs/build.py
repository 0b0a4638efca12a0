"""Stage 5: LLM answers and hand-written files -> vetted, normalized programs (or a reason)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .extract import code_from_answer, drop_main_guard, rename_entry_point
from .normalize import normalize
from .vetting import vet


@dataclass(frozen=True)
class Program:
    """A vetted program: normalized source plus where it came from."""

    name: str  # "<strategy>_<content hash>", unique per content
    strategy: str  # prompt strategy, or "include" for hand-written files
    source: str
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A program that was dropped before running, and why."""

    origin: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.origin}: " + "; ".join(self.reasons)


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]


def build_program(code: str, strategy: str, origin: str, provenance: dict) -> Program | Rejection:
    """Vet `code` (without a main guard, its entry point renamed to `label`) and normalize it."""
    code = rename_entry_point(drop_main_guard(code))
    violations = vet(code)
    if violations:
        return Rejection(origin, tuple(str(v) for v in violations))
    try:
        source = normalize(code)
    except ValueError as err:
        return Rejection(origin, (str(err),))
    return Program(f"{strategy}_{content_hash(source)}", strategy, source, provenance)


def program_from_answer(answer: str, strategy: str, origin: str, provenance: dict):
    """A program from an LLM answer (its first fenced code block)."""
    return build_program(code_from_answer(answer), strategy, origin, provenance)


def program_from_file(path: Path):
    """A hand-written program (programs.include); vetted like any other."""
    return build_program(
        path.read_text(encoding="utf-8"), "include", path.name, {"origin": f"include:{path.name}"}
    )
