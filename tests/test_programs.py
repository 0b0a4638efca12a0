"""Stage 5: code from answers, entry-point renaming, vetting reasons, ruff normalization."""

from __future__ import annotations

import pytest

from alchemist_compiler.programs import build
from alchemist_compiler.programs.build import (
    Program,
    Rejection,
    check_program,
    program_from_answer,
    program_from_file,
)
from alchemist_compiler.programs.extract import code_from_answer, prepare
from alchemist_compiler.programs.normalize import normalize


def test_first_fenced_block_with_a_function_is_taken():
    answer = "Here you go:\n```text\nnot code\n```\n```python\ndef label(x):\n    return 1\n```\nDone."
    assert code_from_answer(answer) == "def label(x):\n    return 1\n"


def test_bare_answer_is_taken_when_there_is_no_fence():
    assert code_from_answer("def label(x):\n    return -1") == "def label(x):\n    return -1\n"


def test_entry_point_is_renamed_to_label_with_its_references():
    source = (
        "def helper(t):\n    return 'buy' in t\n\n"
        "def label_function(x):\n    return 1 if helper(x) else -1\n"
    )
    renamed, changes = prepare(source)
    assert "def label(x):" in renamed and "def helper(t):" in renamed
    assert "label_function" not in renamed
    assert changes == ("renamed label_function -> label",)


def test_ambiguous_entry_point_is_left_for_vetting_to_reject():
    source = "def a(x):\n    return 1\n\ndef b(x):\n    return 0\n"
    assert prepare(source) == (source, ())
    result = program_from_answer(f"```python\n{source}```", "general", "program 1", {})
    assert isinstance(result, Rejection)
    assert "label" in str(result)


def test_rejection_names_the_rule_and_line():
    answer = "```python\nimport os\n\ndef label(x):\n    return 1\n```"
    result = program_from_answer(answer, "general", "program 4 (general)", {})
    assert isinstance(result, Rejection)
    assert str(result).startswith("program 4 (general): line 1: forbidden-import")


def test_normalized_program_is_formatted_and_named_by_content():
    answer = "```python\nimport re\ndef label( x ):\n  return 1 if re.search('win',x) else -1\n```"
    program = program_from_answer(answer, "keywords", "program 2", {"origin": "llm"})
    assert isinstance(program, Program)
    assert program.source == (
        'import re\n\n\ndef label(x):\n    return 1 if re.search("win", x) else -1\n'
    )
    assert program.name.startswith("keywords_") and len(program.name) == len("keywords_") + 8
    again = program_from_answer(answer.replace("( x )", "(x)"), "keywords", "program 3", {})
    assert again.name == program.name  # same normalized content, same name


def test_normalize_is_idempotent():
    source = "import re\nfrom collections import Counter\ndef label(x):\n  return -1\n"
    once = normalize(source)
    assert normalize(once) == once
    assert "Counter" not in once  # unused import removed by ruff's safe fix


def test_main_guard_demo_block_is_dropped_before_vetting():
    answer = (
        "```python\ndef label_fn(x):\n    return 1 if 'win' in x else -1\n\n"
        "if __name__ == \"__main__\":\n    print(label_fn('win'))\n```"
    )
    program = program_from_answer(answer, "general", "program 1", {})
    assert isinstance(program, Program)
    assert "__main__" not in program.source and "def label(x):" in program.source
    assert program.changes == ("removed __main__ block", "renamed label_fn -> label")


def test_a_program_already_named_label_is_not_changed():
    program = program_from_answer("```python\ndef label(x):\n    return 1\n```", "rules", "p", {})
    assert isinstance(program, Program) and program.changes == ()


@pytest.mark.parametrize(
    ("file_name", "prefix"),
    [
        ("My Rules.py", "include_my_rules_"),
        ("spam-v2.py", "include_spam_v2_"),
        ("√.py", "include_program_"),
    ],
)
def test_included_file_keeps_its_name_in_the_program_name(tmp_path, file_name, prefix):
    path = tmp_path / file_name
    path.write_text("def label(x):\n    return 1 if 'free' in x else -1\n", encoding="utf-8")
    program = program_from_file(path)
    assert isinstance(program, Program)
    assert program.name.startswith(prefix) and len(program.name) == len(prefix) + 8
    assert program.strategy == "include"


def test_the_normalized_source_is_vetted_again(monkeypatch):
    code = "def label(x):\n    return 1 if x else -1\n"
    assert check_program(code).violations == ()
    monkeypatch.setattr(build, "normalize", lambda source: source + "\nimport os\n")
    checked = check_program(code)
    assert [v.rule for v in checked.violations] == ["forbidden-import"]
    assert "normalized by ruff" in checked.violations[0].message
    result = program_from_answer(f"```python\n{code}```", "general", "program 1", {})
    assert isinstance(result, Rejection) and "line 4: forbidden-import" in str(result)


def test_a_normalization_failure_is_a_rejection(monkeypatch):
    def failing(source):
        raise ValueError("ruff format failed: boom")

    monkeypatch.setattr(build, "normalize", failing)
    result = program_from_answer("```python\ndef label(x):\n    return 1\n```", "rules", "p 1", {})
    assert isinstance(result, Rejection)
    assert str(result) == "p 1: line 0: normalization: ruff format failed: boom"


def test_program_header_says_what_the_build_changed():
    from alchemist_compiler.analysis import ProgramStats
    from alchemist_compiler.emit import _provenance_lines

    code = "def spam_rule(x):\n    return 1\n\nif __name__ == '__main__':\n    spam_rule('a')\n"
    stats = ProgramStats("label", coverage=1.0, overlap=0.0, conflict=0.0, polarity=[1], exceptions=0,
                         timeouts=0, invalid=0, valid_accuracy=None, valid_votes=0)
    program = program_from_answer(f"```python\n{code}```", "rules", "p", {"origin": "x"})
    lines = _provenance_lines(program, stats)
    assert "Changed by Alchemist: removed __main__ block; renamed spam_rule -> label." in lines
    plain = "```python\ndef label(x):\n    return 1\n```"
    unchanged = program_from_answer(plain, "rules", "p", {"origin": "x"})
    assert not any(line.startswith("Changed by") for line in _provenance_lines(unchanged, stats))


def test_emitted_program_file_is_the_vetted_source_behind_an_inert_docstring():
    import ast

    from conftest import EXAMPLES

    from alchemist_compiler.emit import program_file
    from alchemist_compiler.task import load_task

    task = load_task(EXAMPLES / "youtube" / "task.yaml")
    source = "def label(x):\n    return 1\n"
    hostile = 'Included from evil""" + __import__("os").system("id") + """.py\\'
    name, text = program_file(task, 3, "include_evil", source, [hostile, "second line"])
    module = ast.parse(text)
    assert name == "p03_include_evil.py"
    assert [type(node).__name__ for node in module.body] == ["Expr", "FunctionDef"]
    assert "evil" in ast.get_docstring(module) and "second line" in ast.get_docstring(module)
