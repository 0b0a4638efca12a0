"""Stage 5: LLM answers and hand-written files -> vetted, normalized programs (or a reason)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .extract import code_from_answer, prepare
from .normalize import normalize
from .vetting import Violation, vet


@dataclass(frozen=True)
class Program:
    """A vetted program: normalized source plus where it came from."""

    name: str  # "<strategy>_<content hash>" ("include_<file stem>_<hash>"), unique per content
    strategy: str  # prompt strategy, or "include" for hand-written files
    source: str
    provenance: dict = field(default_factory=dict)
    changes: tuple[str, ...] = ()  # what the build changed besides formatting, e.g. a rename


@dataclass(frozen=True)
class Rejection:
    """A program that was dropped before running, and why."""

    origin: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.origin}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class Checked:
    """What the compiler makes of a program's code: the source that would run (normalized when
    it passed), what the build changed, and every reason to reject it."""

    source: str
    changes: tuple[str, ...]
    violations: tuple[Violation, ...]


NORMALIZATION = "normalization"  # the rule of a failure in or after ruff's normalization


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]


def check_program(code: str) -> Checked:
    """Prepare `code` (main guard dropped, entry point renamed to `label`), vet it, normalize it
    with ruff, and vet the normalized source again: what runs is what was vetted."""
    prepared, changes = prepare(code)
    violations = vet(prepared)
    if violations:
        return Checked(prepared, changes, tuple(violations))
    try:
        source = normalize(prepared)
    except ValueError as err:
        return Checked(prepared, changes, (Violation(NORMALIZATION, 0, str(err)),))
    after = [
        Violation(v.rule, v.line, f"{v.message} (in the source as normalized by ruff)")
        for v in vet(source)
    ]
    return Checked(source, changes, tuple(after))


def build_program(
    code: str, strategy: str, origin: str, provenance: dict, prefix: str | None = None
) -> Program | Rejection:
    """A Program named `<prefix>_<content hash>` (prefix: the strategy by default), or why not."""
    checked = check_program(code)
    if checked.violations:
        return Rejection(origin, tuple(str(v) for v in checked.violations))
    name = f"{prefix or strategy}_{content_hash(checked.source)}"
    return Program(name, strategy, checked.source, provenance, checked.changes)


def program_from_answer(answer: str, strategy: str, origin: str, provenance: dict):
    """A program from an LLM answer (its first fenced code block)."""
    return build_program(code_from_answer(answer), strategy, origin, provenance)


def file_slug(path: Path) -> str:
    """The file's stem as a name part: lowercase letters, digits and single underscores."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")[:40] or "program"


def program_from_file(path: Path):
    """A hand-written program (programs.include); vetted like any other, named after its file."""
    return build_program(
        path.read_text(encoding="utf-8"),
        "include",
        path.name,
        {"origin": f"include:{path.name}"},
        prefix=f"include_{file_slug(path)}",
    )
