"""`programs.pin`: reviewed program files that keep their slots across recompiles.

A pinned file is a program file from a labeler's `programs/` folder, as reviewed (edited or not).
Its header names the slot it was written for ("Written by MODEL as program 3 (strategy:
keywords); ..."). That slot asks the LLM nothing, whatever the LLM settings; the file's code
(below its header) is vetted and normalized like any program's, and never rewritten for speed,
so the labeler runs it as reviewed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import TaskError
from .programs.build import Program, Rejection, build_program

#: The header line naming who wrote a program and for which slot (pipeline._provenance_lines).
WRITTEN = re.compile(r"Written by .+? as program (?P<slot>\d+) \(strategy: (?P<strategy>\w+)\)[^\n]*")


@dataclass(frozen=True)
class Pinned:
    """A pinned file, the slot it occupies (0-based) and the program built from it."""

    slot: int
    strategy: str
    origin: str  # "program 3 (keywords), pinned"
    result: Program | Rejection


def pinned_programs(task) -> dict[int, Pinned]:
    """The task's pinned files by slot; TaskError naming the key when a file names no slot, a
    slot past programs.count, or a slot another pinned file holds."""
    pins: dict[int, Pinned] = {}
    files: dict[int, str] = {}
    for i, path in enumerate(task.programs.pin):
        pinned = _read(path, f"programs.pin.{i}", task.programs.count)
        if pinned.slot in pins:
            raise TaskError(f"programs.pin.{i}: {path.name} is program {pinned.slot + 1}, "
                            f"like {files[pinned.slot]}")
        pins[pinned.slot], files[pinned.slot] = pinned, path.name
    return pins


def _read(path: Path, key: str, count: int) -> Pinned:
    text = path.read_text(encoding="utf-8")
    written = WRITTEN.search(text)
    if written is None:
        raise TaskError(f"{key}: {path.name} names no slot: no 'Written by MODEL as program N "
                        "(strategy: S)' line in its header (pin a file of a labeler's programs/; "
                        "hand-written programs go in programs.include)")
    slot, strategy = int(written["slot"]), written["strategy"]
    if not 1 <= slot <= count:
        raise TaskError(f"{key}: {path.name} is program {slot}, but programs.count is {count}")
    origin = f"program {slot} ({strategy}), pinned"
    provenance = {"origin": "pinned", "file": path.name, "written": written.group(0)}
    return Pinned(slot - 1, strategy, origin, build_program(_code(text), strategy, origin, provenance))


def _code(text: str) -> str:
    """The file without its header docstring (a file that does not parse is left to vetting)."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return text
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
            first.value.value, str):
        return "\n".join(text.splitlines()[first.end_lineno:]).lstrip("\n")
    return text
