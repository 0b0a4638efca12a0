"""Stage 1: task.yaml validation names the key at fault."""

from __future__ import annotations

import pytest
from conftest import base_task, write_task

from alchemist_compiler.errors import TaskError
from alchemist_compiler.task import load_task


def test_valid_task_resolves_paths_against_its_folder(task_dir):
    task = load_task(task_dir / "task.yaml")
    assert task.data.train == (task_dir / "train.jsonl").resolve()
    assert task.import_name == "tiny_spam_labeler"
    assert task.dist_name == "tiny-spam-labeler"
    assert task.class_names == ["ham", "spam"]
    assert task.lock_path == task_dir / "alchemist.lock"


def test_design_example_keys_are_all_accepted(task_dir):
    task = base_task(
        llm={"model": "gpt-4o-mini", "base_url": None, "api_key_env": "OPENAI_API_KEY",
             "temperature": 0.7, "price_per_1k": {"prompt": 0.00015, "completion": 0.0006}},
        programs={"count": 10, "strategies": ["general", "description", "exemplars", "keywords", "rules"],
                  "supplementary": {}, "min_coverage": 0.1, "include": [], "repair_rounds": 1,
                  "weak_labels_column": None},
        label_model={"kind": "snorkel"},
        distill={"features": "hashing", "hidden": [32, 32], "seeds": 5},
    )
    loaded = load_task(write_task(task_dir, task))
    assert loaded.programs.count == 10 and loaded.distill.hidden == [32, 32]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(colour="red"), "colour: unknown key"),
        (lambda t: t["llm"].update(temprature=1), "llm.temprature: unknown key"),
        (lambda t: t["programs"].update(count="ten"), "programs.count: "),
        (lambda t: t.update(classes=[{"name": "only"}]), "classes: "),
        (lambda t: t.update(modality="audio"), "modality: "),
        (lambda t: t.update(name="Not Valid"), "name: must be lowercase"),
        (lambda t: t["data"].update(train="missing.jsonl"), "data.train: file not found"),
        (lambda t: t.pop("description"), "description: Field required"),
        (lambda t: t["label_model"].update(kind="magic") if "label_model" in t
         else t.update(label_model={"kind": "magic"}), "label_model.kind: "),
        (lambda t: t["programs"].update(strategies=["general", "vibes"]), "programs.strategies.1: "),
        (lambda t: t["classes"].append({"name": "ham"}), "duplicate class name 'ham'"),
    ],
)
def test_invalid_task_names_the_key(task_dir, change, message):
    task = base_task()
    change(task)
    with pytest.raises(TaskError) as err:
        load_task(write_task(task_dir, task))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_exemplars_need_labeled_rows(task_dir):
    task = base_task(programs={"count": 2, "strategies": ["exemplars"]})
    del task["data"]["valid"]
    with pytest.raises(TaskError, match="exemplars"):
        load_task(write_task(task_dir, task))


def test_not_yaml_and_missing_file(task_dir):
    (task_dir / "bad.yaml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(TaskError, match="not valid YAML"):
        load_task(task_dir / "bad.yaml")
    with pytest.raises(TaskError, match="not found"):
        load_task(task_dir / "nope.yaml")
