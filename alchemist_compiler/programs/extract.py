"""Take the program out of an LLM answer and make its entry point a function named `label`."""

from __future__ import annotations

import re

import libcst as cst

FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


def code_from_answer(answer: str) -> str:
    """The first fenced code block that defines a function, else the bare answer."""
    blocks = FENCE.findall(answer)
    for block in blocks:
        if re.search(r"^\s*def\s", block, re.MULTILINE):
            return block.strip() + "\n"
    return (blocks[0] if blocks else answer).strip() + "\n"


class _Rename(cst.CSTTransformer):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.new) if updated.value == self.old else updated


def _names_used(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.add(name.value)

    node.visit(Collect())
    return found


def _is_entry_point(name: str, module: cst.Module) -> bool:
    """No top-level statement other than the function's own definition refers to it."""
    return not any(
        name in _names_used(stmt)
        for stmt in module.body
        if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value == name)
    )


def _is_main_guard(statement: cst.CSTNode) -> bool:
    """`if __name__ == "__main__":` (LLMs often add a demo block under it)."""
    return (
        isinstance(statement, cst.If)
        and isinstance(statement.test, cst.Comparison)
        and isinstance(statement.test.left, cst.Name)
        and statement.test.left.value == "__name__"
    )


def prepare(source: str) -> tuple[str, tuple[str, ...]]:
    """`source` as the compiler builds it, and what changed: top-level `if __name__ ==
    "__main__":` blocks removed (demo code never runs in a labeler) and the entry point renamed
    to `label`. Unparsable source is returned unchanged, for vetting to reject with a reason."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return source, ()
    changes = []
    kept = [statement for statement in module.body if not _is_main_guard(statement)]
    if len(kept) < len(module.body):
        module = module.with_changes(body=kept)
        changes.append("removed __main__ block")
    entry_point = _entry_point(module)
    if entry_point is not None:
        module = module.visit(_Rename(entry_point, "label"))
        changes.append(f"renamed {entry_point} -> label")
    return (module.code, tuple(changes)) if changes else (source, ())


def _entry_point(module: cst.Module) -> str | None:
    """The LLM's function to rename to `label` (e.g. `label_function`): the one top-level
    function nothing else at top level refers to. None when the module already uses `label` or
    the entry point is ambiguous (vetting then rejects it with a reason)."""
    if "label" in _names_used(module):
        return None
    names = [s.name.value for s in module.body if isinstance(s, cst.FunctionDef)]
    entry_points = [name for name in names if _is_entry_point(name, module)]
    return entry_points[0] if len(entry_points) == 1 else None
