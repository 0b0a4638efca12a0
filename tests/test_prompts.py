"""Stage 3: the paper's three-part prompt, strategies per slot, two-stage supplementary text."""

from __future__ import annotations

from conftest import base_task, write_task

from alchemist_compiler import prompts
from alchemist_compiler.data import load_dataset
from alchemist_compiler.modality import get_modality
from alchemist_compiler.task import load_task


def described(task) -> str:
    return get_modality(task.modality).describe(task, load_dataset(task))


def test_slots_cycle_through_strategies(task_dir):
    task = load_task(write_task(task_dir, base_task(
        programs={"count": 5, "strategies": ["general", "keywords", "rules"]})))
    assert [s.strategy for s in prompts.plan_slots(task)] == [
        "general", "keywords", "rules", "general", "keywords"]


def test_program_prompt_has_the_three_parts(task_dir):
    task = load_task(task_dir / "task.yaml")
    system, user = prompts.program_request(task, prompts.Slot(0, "general"), None, described(task))
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert "Classify comments as spam or ham." in text  # task description
    assert "- 0: ham (genuine)" in text and "- 1: spam (promotion)" in text
    assert "- -1: the label cannot be determined" in text  # labeling instructions
    assert "def label(x: str) -> int:" in text  # signature
    assert "The input `x` is the raw text as a Python `str`." in text
    assert "(this is function 1)" in text


def test_supplementary_text_goes_under_its_heading(task_dir):
    task = load_task(task_dir / "task.yaml")
    _, user = prompts.program_request(task, prompts.Slot(1, "keywords"), "spam: free, win",
                                      described(task))
    assert "## Indicative keywords\nspam: free, win" in user["content"]


def test_exemplars_come_from_valid_per_class_in_file_order(task_dir):
    task = load_task(task_dir / "task.yaml")
    valid = load_dataset(task).valid
    rows = prompts.exemplar_rows(valid.labels, len(task.classes), per_class=2)
    assert rows == [0, 1, 6, 7]
    text = prompts.exemplars_text(task, valid, rows)
    lines = text.strip().splitlines()
    assert lines == [
        '- label 0 (ham): "love this song"',
        '- label 0 (ham): "great video, brings back memories"',
        '- label 1 (spam): "check out my channel http://x.co"',
        '- label 1 (spam): "subscribe to me please!!"',
    ]


def test_first_stage_question_per_strategy(task_dir):
    task = load_task(task_dir / "task.yaml")
    for strategy, phrase in [("keywords", "keywords"), ("rules", "rules"), ("description", "Describe")]:
        _, user = prompts.supplementary_request(task, strategy, described(task))
        assert phrase in user["content"] and "## Classes" in user["content"]
