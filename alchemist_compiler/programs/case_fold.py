"""When a case-insensitive regex can be tried first as a case-sensitive one on lowercased text.

For a str `text` of ASCII characters, `text.lower()` changes only A-Z, so a pattern compiled with
IGNORECASE matches `text` exactly where the same pattern without IGNORECASE matches
`text.lower()`, provided nothing in the pattern depends on case: every literal character is ASCII
and not an upper-case letter, and every class range either lies within a-z or holds no letter.
The case-sensitive copy is 2-4x faster in CPython's regex engine, so the rewrite (optimize.py)
tries it first and runs the original only where it matches.
"""

from __future__ import annotations

import re
from re import _constants as sre  # CPython's regex parser (private; public as sre_parse to 3.10)
from re import _parser as sre_parse

UPPER = range(ord("A"), ord("Z") + 1)
LOWER = range(ord("a"), ord("z") + 1)
REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))


def foldable(pattern: str, flags: int) -> bool:
    """Whether `pattern` with `flags` (IGNORECASE among them) matches an ASCII str exactly where
    it matches without IGNORECASE on the str's lowercased copy."""
    if not flags & re.IGNORECASE or flags & re.LOCALE or not pattern.isascii():
        return False
    try:
        if re.compile(pattern, flags & ~re.IGNORECASE).flags & re.IGNORECASE:
            return False  # an inline (?i) would stay in the copy
        return _case_free(sre_parse.parse(pattern, flags))
    except (re.error, RecursionError, OverflowError):
        return False


def _case_free(items) -> bool:
    """No element of the parsed pattern depends on letter case (see the module docstring)."""
    for op, av in items:
        if op in (sre.LITERAL, sre.NOT_LITERAL):
            ok = _plain(av)
        elif op is sre.IN:
            ok = all(_class_item_free(kind, value) for kind, value in av)
        elif op in (sre.ANY, sre.AT, sre.CATEGORY, sre.GROUPREF):
            ok = True
        elif op is sre.BRANCH:
            ok = all(_case_free(branch) for branch in av[1])
        elif op is sre.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            ok = not add_flags and not del_flags and _case_free(body)
        elif op in REPEATS:
            ok = _case_free(av[2])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            ok = _case_free(av[1])
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            ok = _case_free(av)
        elif op is sre.GROUPREF_EXISTS:
            _group, yes, no = av
            ok = _case_free(yes) and (no is None or _case_free(no))
        else:
            ok = False
        if not ok:
            return False
    return True


def _plain(code: int) -> bool:
    return code < 128 and code not in UPPER


def _class_item_free(kind, value) -> bool:
    if kind is sre.LITERAL:
        return _plain(value)
    if kind is sre.RANGE:
        low, high = value
        if high >= 128:
            return False
        letters = set(range(low, high + 1)) & (set(UPPER) | set(LOWER))
        return not letters or low in LOWER and high in LOWER
    return kind in (sre.CATEGORY, sre.NEGATE)
