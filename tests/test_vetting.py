"""Static vetting: every hostile program is rejected for its rule, benign programs pass."""

from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path

import pytest
from alchemist_runtime.policy import load_policy

from alchemist_compiler.programs.vetting import MAX_DEPTH, RULES, TOO_LARGE, Violation, vet

HOSTILE_DIR = Path(__file__).with_name("hostile_programs")
HOSTILE_FILES = sorted(HOSTILE_DIR.glob("*.py"))
EXPECT = re.compile(r"# expect: ([a-z-]+)\n")

BENIGN = {
    "keywords_with_compiled_regex": '''
"""Spam if the comment pushes a link or a channel."""
import re

SPAM, HAM, ABSTAIN = 1, 0, -1
KEYWORDS = ("subscribe", "check out", "my channel")
LINK = re.compile(r"https?://\\S+", re.IGNORECASE)
ANY_KEYWORD = re.compile("|".join(re.escape(k) for k in KEYWORDS), re.IGNORECASE)


def label(x):
    if LINK.search(x) or ANY_KEYWORD.search(x):
        return SPAM
    return ABSTAIN
''',
    "helpers_and_constants": """
POSITIVE = frozenset({"great", "love", "excellent"})
NEGATIVE = frozenset({"awful", "hate", "terrible"})
THRESHOLD: int = 2


def _words(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split()]


def _balance(words: list[str]) -> int:
    return sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)


def label(x: str) -> int:
    balance = _balance(_words(x))
    if balance >= THRESHOLD:
        return 1
    if balance <= -THRESHOLD:
        return 0
    return -1
""",
    "counter": """
from collections import Counter


def label(x):
    counts = Counter(x.lower().split())
    if not counts:
        return -1
    word, n = counts.most_common(1)[0]
    return 1 if n > 3 and len(word) > 2 else -1
""",
    "module_level_constant_expressions": '''
"""The common LLM idioms for precompiled patterns and word lists (issue #11)."""
import re
import string
from functools import lru_cache

WORDS = ["free", "win", "prize"]
PATTERN = re.compile("|".join(map(re.escape, WORDS)), re.IGNORECASE)
BOUNDED = re.compile(r"\\b(?:%s)\\b" % "|".join(sorted(WORDS, key=len, reverse=True)))
UPPER = frozenset(w.upper() for w in WORDS) | {"FREE!"}
TABLE = str.maketrans("", "", string.punctuation)
LIMITS: dict[str, int] = {"short": 10, "long": len(WORDS) * 100}
FALLBACK = None if UPPER else -1


@lru_cache(maxsize=None)
def _clean(text: str, table=TABLE) -> str:
    return text.translate(table)


def label(x: str) -> int:
    if PATTERN.search(x) or BOUNDED.search(_clean(x)):
        return 1
    return 0 if len(x) > LIMITS["long"] else -1
''',
    "aliases_and_submodules": """
import collections.abc
import re as regex
from collections import Counter, abc
from re import compile as compile_pattern


def label(x):
    if not isinstance(x, collections.abc.Sized) or isinstance(x, abc.Mapping):
        return -1
    words = Counter(regex.findall(r"\\w+", x.lower()))
    shouting = compile_pattern("[A-Z]{4,}")
    return 1 if shouting.search(x) or words["free"] > 1 else 0
""",
    "math_log": """
import math


def label(x):
    length = len(x)
    if length == 0:
        return -1
    return 1 if math.log(length + 1) > math.log(200) else 0
""",
    "unicode_normalize": """
import unicodedata


def label(x):
    folded = unicodedata.normalize("NFKD", x)
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return 1 if "free" in ascii_only.lower() else -1
""",
    "string_punctuation": """
import string

PUNCTUATION = frozenset(string.punctuation)


def label(x):
    marks = sum(c in PUNCTUATION for c in x)
    return 1 if marks > len(x) / 4 else -1
""",
    "nested_functions_and_closures": """
import functools
import itertools


@functools.lru_cache(maxsize=1024)
def _normalized(text):
    return " ".join(text.lower().split())


def label(x):
    text = _normalized(x)

    def has_repeat(n):
        return any(len(list(group)) >= n for _, group in itertools.groupby(text))

    def count(words):
        nonlocal text
        return sum(text.count(w) for w in words)

    if has_repeat(4) or count(("!!!", "$$$")) > 1:
        return 1
    return 0 if len(text) > 20 else -1
""",
    "statistics_and_comprehension_constants": """
import statistics

TEMPLATES = [f"{word}!" for word in ("win", "prize") if word]
WEIGHTS = {k: 2 for k in ("short", "medium")}


def label(x):
    lengths = [len(w) for w in x.split()] or [0]
    if statistics.mean(lengths) > 8 or any(t in x for t in TEMPLATES):
        return 1
    size = "short" if len(lengths) < 5 else "medium"
    return 0 if WEIGHTS["{}".format(size)] > 1 else -1
""",
}


def expected_rule(path: Path) -> str:
    match = EXPECT.match(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} must start with '# expect: <rule-id>'"
    return match.group(1)


def test_corpus_is_large_and_covers_every_rule() -> None:
    expected = {expected_rule(path) for path in HOSTILE_FILES}
    assert len(HOSTILE_FILES) >= 30
    assert {rule.rule for rule in RULES} | {"syntax-error"} <= expected


@pytest.mark.parametrize("path", HOSTILE_FILES, ids=lambda path: path.stem)
def test_hostile_program_is_rejected_for_its_rule(path: Path) -> None:
    violations = vet(path.read_text(encoding="utf-8"))
    assert expected_rule(path) in {v.rule for v in violations}, violations


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_program_is_accepted(name: str) -> None:
    assert vet(BENIGN[name].lstrip("\n")) == []


@pytest.mark.parametrize(
    ("source", "rule", "line"),
    [
        ("import re\n\nimport os\n\ndef label(x):\n    return 0\n", "forbidden-import", 3),
        ("def label(x):\n    y = 1\n    return x.__class__\n", "forbidden-attribute", 3),
        ("class C:\n    def __eq__(self, o):\n        return 1\n", "dunder-access", 2),
        ("def label(x):\n    return eval(x)\n", "forbidden-name", 2),
        ("def label(x):\n    return 0\n\nprint(label(1))\n", "module-level-code", 4),
        ("def label(x):\n    return 0\ndef label(y):\n    return 1\n", "label-signature", 3),
        ("def label(x)\n    return 0\n", "syntax-error", 1),
        ("def label():\n    return 0\n", "label-signature", 1),
        ("", "label-signature", 0),
    ],
)
def test_violation_line(source: str, rule: str, line: int) -> None:
    assert Violation(rule, line, "") in [Violation(v.rule, v.line, "") for v in vet(source)]


def test_violations_are_sorted_and_printable() -> None:
    violations = vet("import os\nprint(1)\ndef label(x, y):\n    return ().__class__\n")
    assert violations == sorted(violations, key=lambda v: (v.line, v.rule))
    assert str(violations[0]).startswith("line 1: forbidden-import: import of 'os' is not allowed")


def test_oversize_source_is_too_large() -> None:
    source = '"""' + "padding " * 2_500 + '"""\n\ndef label(x):\n    return -1\n'
    assert vet(source) == [Violation(TOO_LARGE, 0, "source is 20036 bytes (limit 20000)")]
    assert vet(source, max_bytes=30_000) == []


def test_too_many_syntax_nodes_is_too_large() -> None:
    source = BENIGN["counter"].lstrip("\n")
    assert vet(source) == []
    assert [v.rule for v in vet(source, max_nodes=50)] == [TOO_LARGE]


@pytest.mark.parametrize(
    "expression",
    ["+".join(["1"] * 3000), "[" * 150 + "]" * 150, "-" * 9000 + "1", "x" + ".y" * 5000],
)
def test_deep_nesting_is_too_large_not_a_crash(expression: str) -> None:
    source = f"def label(x):\n    return {expression}\n"
    assert [v.rule for v in vet(source, max_bytes=10**6)] == [TOO_LARGE]


def test_nesting_just_under_the_limit_is_vetted() -> None:
    deep = "def label(x):\n    return " + "-" * (MAX_DEPTH - 10)
    assert vet(deep + "x\n") == []
    assert [(v.rule, v.line) for v in vet(deep + "x.__class__\n")] == [("forbidden-attribute", 2)]


@pytest.mark.parametrize(
    "junk",
    ["", "\x00", "b'\\xff\\xfe' junk )(", "\ud800", "def", "\t\tdef label(x):", "'''", "\\"],
)
def test_garbage_is_rejected_without_raising(junk: str) -> None:
    violations = vet(junk)
    assert violations and all(isinstance(v, Violation) for v in violations)


def test_mutated_programs_never_raise() -> None:
    rng = random.Random(0)
    base = BENIGN["nested_functions_and_closures"]
    for _ in range(150):
        start = rng.randrange(len(base))
        junk = chr(rng.choice([0, 10, 40, 41, 58, 95, 0xFF10, 0x1F600, rng.randrange(32, 127)]))
        vet(base[:start] + junk * rng.randrange(3) + base[start + rng.randrange(5) :])


def test_non_str_source_is_a_violation() -> None:
    source: object = b"def label(x): return 0"
    assert [v.rule for v in vet(source)] == ["syntax-error"]  # type: ignore[arg-type]


def rules_of(body: str, prelude: str) -> set[str]:
    """The rules a program breaks whose label(x) body is `body` (after `prelude` at top level)."""
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return {v.rule for v in vet(f"{prelude}\ndef label(x):\n{indented}    return -1\n")}


@pytest.mark.parametrize(
    ("prelude", "body"),
    [
        ("import re", "flags = re.I | re.MULTILINE\nfound = re.Pattern, re.error"),
        ("import math", "y = math.floor(math.log(len(x) + 1, 2))"),
        ("from re import search as find", "hit = find('a', x)"),
        ("", "counts = dict(type=1, object=2)"),  # keyword names are not the builtins
        ("", "d = {}\nd['k'] = 1\ndel d['k']\nitems = [0]\nitems[0] += 1"),
        ("", "match x:\n    case str() if x:\n        pass\n    case {'k': v}:\n        pass"),
        ("", "try:\n    int(x)\nexcept (ValueError, TypeError) as error:\n    msg = error.args"),
        ("", "n = next((w for w in x.split() if w.isupper()), None)"),
    ],
)
def test_policy_allows(prelude: str, body: str) -> None:
    assert rules_of(body, prelude) == set()


@pytest.mark.parametrize(
    ("prelude", "body", "rule"),
    [
        ("import re", "r = re.RegexFlag", "module-attribute"),
        ("import re", "re = 1", "module-attribute"),
        ("import re as r", "p = r.template", "module-attribute"),
        ("from re import Scanner", "", "module-attribute"),
        ("import collections.abc as cabc", "s = cabc.ByteString", "module-attribute"),
        ("import re", "f = re.I._value_", "forbidden-attribute"),
        ("", "m = x.mro", "forbidden-attribute"),
        ("", "g = (c for c in x)\nframe = g.gi_frame", "forbidden-attribute"),
        ("", "type = len", "forbidden-name"),
        ("", "def f(input):\n    return input", "forbidden-name"),
        ("", "ok = callable(x)", "forbidden-name"),
        ("", "for x.y in []:\n    pass", "attribute-write"),
        ("", "x.real: int = 1", "attribute-write"),
        ("", "a, (b, x.imag) = 1, (2, 3)", "attribute-write"),
        ("", "match x:\n    case str(real=r):\n        pass", "match-keyword-pattern"),
        ("", "class Empty:\n    pass", "class-definition"),
        ("", "v = __debug__", "forbidden-name"),
        ("", "b = __builtins__", "dunder-access"),
    ],
)
def test_policy_rejects(prelude: str, body: str, rule: str) -> None:
    assert rule in rules_of(body, prelude)


@pytest.mark.parametrize(
    "statement",
    [
        "LATER = EARLIER\nEARLIER = 1",  # a name bound below is not a constant yet
        "SHOUT = 'a'.upper\nLOUD = SHOUT()",  # calling a constant
        "import re\nP = re.compile('a')\nM = P.search('a')",  # not a str method
        "def helper():\n    return 1\nALIAS = helper",
        "def f(x, n=print):\n    return x",
        "import functools as f\n@f.partial\ndef g():\n    pass",
    ],
)
def test_module_level_code_rejects(statement: str) -> None:
    assert "module-level-code" in rules_of("", statement)


def test_module_level_constants_accepts_calls_on_earlier_names() -> None:
    source = (
        "import re\nWORDS = ('a', 'b')\nJOINED = '|'.join(WORDS).upper()\n"
        "P = re.compile(JOINED, re.I)\nN = len(WORDS) + sum(map(len, WORDS))\n"
        "\ndef label(x):\n    return 1 if P.search(x) else -1\n"
    )
    assert vet(source) == []


def test_vetting_reads_the_policy() -> None:
    policy = load_policy()
    narrower = dataclasses.replace(
        policy,
        modules={**policy.modules, "re": policy.modules["re"] - {"search"}},
        builtins=policy.builtins - {"len"},
        forbidden_attributes=policy.forbidden_attributes | {"lower"},
    )
    source = "import re\n\ndef label(x):\n    return len(re.search('a', x.lower()) or '')\n"
    assert vet(source) == []
    assert {v.rule for v in vet(source, policy=narrower)} == {
        "module-attribute", "forbidden-name", "forbidden-attribute"
    }
