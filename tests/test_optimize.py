"""Compile-time rewriting: faster source, still vetted, votes identical; unsafe cases left alone."""

from __future__ import annotations

import dataclasses
import re

import pytest
from alchemist_runtime.sandbox import ProgramPool

from alchemist_compiler import speedup
from alchemist_compiler.apply import ApplySettings
from alchemist_compiler.modality import get_modality
from alchemist_compiler.programs.build import Program, check_program
from alchemist_compiler.programs.case_fold import foldable
from alchemist_compiler.programs.optimize import Rewrite, optimize

INPUTS = ["Subscribe to my channel", "CALL 0800 123 456 now", "I love this song", "", "www.x.com",
          "free prize!!", "txt 12345", "check out my video", "the beat", "LOVE love", "win"] * 3
PROGRAM = '''import re

SPAM = ["subscribe", "check out", "my channel"]


def label(x: str) -> int:
    text = x.lower()
    words = ["free", "win", "prize"]
    if any(w in text for w in SPAM):
        return 1
    if any(k in x for k in ("http", "www.")):
        return 1
    for w in words:
        if w in text:
            return 1
    m = re.search(r"\\b(call|txt)\\b", text, re.IGNORECASE)
    if m and len(re.sub(r"\\D", "", x)) >= 5:
        return 1
    return 0 if re.compile("love").search(text) else -1
'''


def votes(source: str, inputs=INPUTS) -> list[int]:
    with ProgramPool([source], 2, workers=1) as pool:
        result = pool.apply(inputs)
    assert result.load_errors == [None] and result.exceptions.tolist() == [0]
    return result.votes[:, 0].tolist()


def test_every_rewrite_applies_passes_vetting_and_votes_the_same():
    rewrite = optimize(PROGRAM, text_input=True, memoize=True)
    assert rewrite.changes == (
        "3 constant regex pattern(s) compiled once, out of label",
        "1 constant collection(s) built once, out of label",
        "2 any(k in s for k in ...) test(s) made one compiled alternation",
        ("1 case-insensitive regex call(s) tried first as a case-sensitive copy on the "
         "lowercased text (ASCII text only)"),
        "memoized label (4096 most recent inputs)")
    checked = check_program(rewrite.source)
    assert checked.violations == ()
    assert "re.search(" not in checked.source and "any(" not in checked.source
    assert "@functools.lru_cache(maxsize=4096)" in checked.source
    assert votes(checked.source) == votes(PROGRAM)


@pytest.mark.parametrize("source", [
    # the local list is mutated: it must stay per call
    "def label(x):\n    seen = ['a']\n    seen.append(x)\n    return len(seen) - 2\n",
    # an invalid pattern raises per call (an abstain), not at import
    "import re\n\ndef label(x):\n    return 1 if re.search('(', x) else 0\n",
    # re.sub with a count: not the compiled pattern's signature
    "import re\n\ndef label(x):\n    return len(re.sub('a', '', x, 1)) % 2\n",
    # an empty alternation would match everything; any() over nothing is False
    "def label(x):\n    return 1 if any(k in x for k in []) else 0\n",
    # the haystack is not known to be a string
    "def label(x):\n    parts = x.split()\n    return 1 if any(k in parts for k in ['a', 'b']) else 0\n",
    # a pattern that is not a constant
    "import re\n\ndef label(x):\n    return 1 if re.search(x[:1] or 'a', x) else 0\n",
])
def test_unsafe_or_unknown_cases_are_left_alone(source):
    assert optimize(source, text_input=True, memoize=False) is None


KEYWORD_PROGRAM = '''import re

WORDS = ("love", "free", "call", "c++", "my channel")


def hits(text, words):
    return sum(1 for w in words if re.search(r"\\b" + re.escape(w) + r"\\b", text))


def stems(text):
    return sum(len(re.findall(f"(?<![a-z]){re.escape(w)}s?(?:[.!]|\\b)", text)) for w in WORDS)


def label(x: str) -> int:
    text = x.lower()
    return 1 if hits(text, WORDS) + stems(text) >= 2 else 0 if hits(x, WORDS) else -1
'''
KEYWORD_INPUTS = INPUTS + ["I love c++", "calls calls", "free free!", "LOVE", "lovely", "c+"]


def test_patterns_built_from_keywords_compile_once_and_run_only_where_the_keyword_occurs():
    rewrite = optimize(KEYWORD_PROGRAM, text_input=True, memoize=False)
    assert rewrite.changes == (
        "2 regex pattern(s) built from variables compiled once per distinct value (up to 4096)",
        "2 of them tried only when their escaped word occurs in the string")
    checked = check_program(rewrite.source)
    assert checked.violations == ()
    assert "re.search(" not in checked.source and "re.findall(" not in checked.source
    assert "if text.find(w) >= 0 else None" in checked.source
    assert votes(checked.source, KEYWORD_INPUTS) == votes(KEYWORD_PROGRAM, KEYWORD_INPUTS)


@pytest.mark.parametrize("pattern", [
    'r"\\b" + re.escape(w) + r"\\b", x, re.IGNORECASE',  # "LOVE" matches "love"
    'r"(?i)" + re.escape(w), x',  # inline flags
    're.escape(w) + "|ov", x',  # a top-level alternation: "ov" alone matches
    '"(?:" + re.escape(w) + ")?e", x',  # the word made optional by a group around it
    're.escape(w) + "?", x',  # a quantifier on the word's last character: "lov" matches
    '"(?#" + re.escape(w) + ")e", x',  # the word inside a comment
])
def test_a_pattern_that_can_match_without_its_word_is_not_guarded(pattern):
    source = ("import re\n\n\ndef label(x):\n"
              f"    return sum(1 for w in ['love', 'free'] if re.search({pattern}))\n")
    rewrite = optimize(source, text_input=True, memoize=False)
    assert rewrite is not None and ".find(" not in rewrite.source
    inputs = KEYWORD_INPUTS + ["Love", "lov", "ove", "e"]
    assert votes(check_program(rewrite.source).source, inputs) == votes(source, inputs)


def test_a_guarded_pattern_still_raises_on_a_non_string():
    source = ("import re\n\n\ndef has(text, w):\n"
              "    return re.search(r'\\b' + re.escape(w), text) is not None\n\n\n"
              "def label(x):\n    return 1 if has(x.split(), 'love') else 0\n")
    rewrite = optimize(source, text_input=True, memoize=False)
    assert ".find(w) >= 0" in rewrite.source
    for program in (source, check_program(rewrite.source).source):
        with ProgramPool([program], 2, workers=1) as pool:
            result = pool.apply(INPUTS)
        assert result.exceptions.tolist() == [len(INPUTS)]


CASE_PROGRAM = '''import re

WORDS = r"(free|win+er|prize)"
OFFER = re.compile(r"\\b" + WORDS + r"\\b", re.IGNORECASE)
START = re.compile(r"(?:urgent|stop)[!:]?", re.IGNORECASE | re.MULTILINE)
WHOLE = re.compile(f"[a-z0-9 ]+{WORDS}", re.I)
REPEAT = re.compile(r"(\\w)\\1{2,}", re.I)


def count(text):
    return len(REPEAT.findall(text))


def label(x: str) -> int:
    if START.match(x) or WHOLE.fullmatch(x):
        return 1
    return 1 if OFFER.search(x) or count(x) >= 2 else 0
'''
# upper case, a non-ASCII str whose case folding differs from str.lower's (long s, Kelvin
# sign, dotted I), and repeated letters whose case differs (back-references)
CASE_INPUTS = KEYWORD_INPUTS + ["FREE stuff", "WiNNer", "ſtop now", "\u212aing", "İ win",
                                "STOP: urgent", "Zzz aaA", "a PRIZE", "ſtop! \u212a", "winer"]


def test_case_insensitive_patterns_are_tried_as_a_case_sensitive_copy_on_lowered_text():
    rewrite = optimize(CASE_PROGRAM, text_input=True, memoize=False)
    assert rewrite.changes == (("4 case-insensitive regex call(s) tried first as a "
                                "case-sensitive copy on the lowercased text (ASCII text only)"),)
    checked = check_program(rewrite.source)
    assert checked.violations == ()
    assert "OFFER_FOLDED = re.compile(OFFER.pattern, OFFER.flags & ~re.IGNORECASE)" in checked.source
    assert "START.match(x) if may_match(START_FOLDED.match, x) else None" in checked.source
    assert "REPEAT.findall(text) if may_match(REPEAT_FOLDED.search, text) else []" in checked.source
    assert votes(checked.source, CASE_INPUTS) == votes(CASE_PROGRAM, CASE_INPUTS)


@pytest.mark.parametrize(("pattern", "text"), [
    ("NASA", "nasa"),  # an upper-case literal
    ("[A-Z]+", "abc"),  # an upper-case class
    ("[0-c]", "d"),  # a range holding part of the letters: d folds to D, inside it
    ("\\x41", "a"),  # an upper-case letter by its code
    ("(?-i:ab)c", "ABC"),  # a case-sensitive group: the copy would differ from the original
    ("caf\u00e9", "CAF\u00c9"),  # a non-ASCII literal
])
def test_case_dependent_patterns_are_not_folded(pattern, text):
    assert not foldable(pattern, re.IGNORECASE)
    source = (f"import re\n\nP = re.compile({pattern!r}, re.IGNORECASE)\n\n\n"
              "def label(x):\n    return 1 if P.search(x) else 0\n")
    assert optimize(source, text_input=True, memoize=False) is None
    if pattern[:3] not in ("(?-", "caf"):  # where the copy on lowered text would miss a match
        assert re.search(pattern, text, re.IGNORECASE) and not re.search(pattern, text.lower())


@pytest.mark.parametrize("call", ["P.search(x, 2)", "P.search(x.lower())", "P.finditer(x)"])
def test_other_calls_of_a_foldable_pattern_are_left_alone(call):
    source = (f"import re\n\nP = re.compile('ab+', re.I)\n\n\n"
              f"def label(x):\n    return 1 if {call} else 0\n")
    assert optimize(source, text_input=True, memoize=False) is None


def test_a_pattern_name_bound_twice_is_not_folded():
    source = ("import re\n\nP = re.compile('ab+', re.I)\n\n\n"
              "def label(x):\n    P = re.compile('b')\n    return 1 if P.search(x) else 0\n")
    rewrite = optimize(source, text_input=True, memoize=False)
    assert rewrite is None or "FOLDED" not in rewrite.source


def test_memoizing_only_text_and_only_with_repeats():
    source = "def label(x):\n    return 1\n"
    assert optimize(source, text_input=False, memoize=True) is None
    assert speedup.worth_memoizing(["a", "b", "a"]) and not speedup.worth_memoizing(["a", "b"])
    assert not speedup.worth_memoizing([{"a": 1}, {"a": 1}])


def run_speed_up(programs: list[Program], inputs: list[str]) -> list[Program]:
    with ProgramPool([p.source for p in programs], 2) as pool:
        original = pool.apply(inputs).votes
    return speedup.speed_up(programs, list(range(len(programs))), {"train": inputs},
                            {"train": original}, 2, ApplySettings(2, 1.0),
                            get_modality("text").probe_inputs(), True)


def test_speed_up_emits_the_rewrite_and_says_so():
    program = Program("general_0", "general", check_program(PROGRAM).source)
    [faster] = run_speed_up([program], INPUTS)
    assert faster.name == program.name and faster.source != program.source
    assert faster.changes[-1].startswith(
        f"rewritten for speed (votes identical on 4 probe inputs and {len(INPUTS)} rows): "
        "3 constant regex pattern(s)")


def test_speed_up_keeps_the_original_when_votes_differ(monkeypatch):
    wrong = "def label(x):\n    return 1\n"
    monkeypatch.setattr(speedup, "optimize", lambda *a, **k: Rewrite(wrong, ("broken",)))
    program = Program("general_0", "general", "def label(x):\n    return 1 if 'a' in x else 0\n")
    assert run_speed_up([program], INPUTS) == [program]
    stable = dataclasses.replace(program, source=wrong)
    assert run_speed_up([stable], INPUTS) == [dataclasses.replace(stable, changes=(
        f"rewritten for speed (votes identical on 4 probe inputs and {len(INPUTS)} rows): broken",))]
