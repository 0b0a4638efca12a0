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


def drop_main_guard(source: str) -> str:
    """Remove top-level `if __name__ == "__main__":` blocks: demo code never runs in a labeler."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return source
    kept = [s for s in module.body if not _is_main_guard(s)]
    return source if len(kept) == len(module.body) else module.with_changes(body=kept).code


def rename_entry_point(source: str) -> str:
    """Rename the LLM's function (e.g. `label_function`) to `label`.

    The entry point is the one top-level function nothing else at top level refers to. The
    source is returned unchanged when it already uses `label`, cannot be parsed, or the entry
    point is ambiguous (vetting then rejects it with a reason).
    """
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return source
    if "label" in _names_used(module):
        return source
    names = [s.name.value for s in module.body if isinstance(s, cst.FunctionDef)]
    entry_points = [name for name in names if _is_entry_point(name, module)]
    if len(entry_points) != 1:
        return source
    return module.visit(_Rename(entry_points[0], "label")).code
