"""Stage 1: task.yaml validation names the key at fault."""

from __future__ import annotations

import re

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
        (lambda t: t.pop("description"), "description: required key is missing"),
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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["data"].update(lable="label"), "data.lable: unknown key (did you mean label?)"),
        (lambda t: t["llm"].update(temprature=1), "llm.temprature: unknown key (did you mean temperature?)"),
        (lambda t: t["classes"][0].update(descripton="x"),
         "classes.0.descripton: unknown key (did you mean description?)"),
        (lambda t: t.update(distil={"seeds": 1}), "distil: unknown key (did you mean distill?)"),
        (lambda t: t.update(colour="red"), "colour: unknown key"),
    ],
)
def test_unknown_keys_suggest_the_closest_key(task_dir, change, message):
    task = base_task()
    change(task)
    with pytest.raises(TaskError) as err:
        load_task(write_task(task_dir, task))
    assert str(err.value) == f"task.yaml: {message}"


def test_classes_given_as_plain_names(task_dir):
    task = load_task(write_task(task_dir, base_task(classes=["ham", "spam"])))
    assert task.class_names == ["ham", "spam"]
    assert [c.description for c in task.classes] == ["", ""]


PYDANTIC_NAMES = ("ClassSpec", "DataSpec", "Price", "LLMSpec", "ProgramsSpec", "LabelModelSpec",
                  "DistillSpec", "Task", "pydantic", "Input should be a valid dictionary")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(classes=[1, 2]),
         "2 errors: classes.0: expected a mapping like {name: spam, description: self-promotion and "
         "links} (or just the name: spam), got 1; classes.1: expected a mapping like"),
        (lambda t: t.update(label_model="snorkel"),
         "label_model: expected a mapping like {kind: snorkel}, got 'snorkel'"),
        (lambda t: t["llm"].update(price_per_1k=3),
         "llm.price_per_1k: expected a mapping like {prompt: 0.00015, completion: 0.0006}, got 3"),
        (lambda t: t.update(data="train.jsonl"), "data: expected a mapping like {train: data/train.jsonl"),
        (lambda t: t["programs"].update(strategies="general"),
         "programs.strategies: expected a list, got 'general'"),
    ],
)
def test_errors_show_the_expected_shape_not_pydantic_names(task_dir, change, message):
    task = base_task()
    change(task)
    with pytest.raises(TaskError) as err:
        load_task(write_task(task_dir, task))
    assert str(err.value).startswith(f"task.yaml: {message}")
    assert not any(name in str(err.value) for name in PYDANTIC_NAMES)


def test_every_error_is_shown(task_dir):
    task = base_task(colour="red")
    task["llm"]["temprature"] = 1
    task["programs"]["count"] = -1
    with pytest.raises(TaskError) as err:
        load_task(write_task(task_dir, task))
    message = str(err.value)
    assert message.startswith("task.yaml: 3 errors: ")
    for part in ("colour: unknown key", "llm.temprature: unknown key", "programs.count: "):
        assert part in message
    assert "more)" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", "task.yaml: line 2, column 1: not valid YAML: expected ',' or ']', "
                              "but got '<stream end>' (while parsing a flow sequence at line 1, column 7)"),
        ("name: x\ndata:\n  train: a\n   input: text\n",
         "task.yaml: line 4, column 9: not valid YAML: mapping values are not allowed here"),
    ],
)
def test_yaml_errors_keep_line_and_column(task_dir, text, message):
    (task_dir / "task.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(TaskError) as err:
        load_task(task_dir / "task.yaml")
    assert str(err.value) == message


def test_a_folder_given_as_a_file_is_called_a_folder(task_dir):
    (task_dir / "data").mkdir()
    task = base_task()
    task["data"]["valid"] = "data"
    with pytest.raises(TaskError, match=r"^data.valid: is a folder, not a file: .*data$"):
        load_task(write_task(task_dir, task))
    with pytest.raises(TaskError, match="is a folder; give the task file"):
        load_task(task_dir)


def test_default_strategies_without_valid_leave_out_exemplars_and_say_so(task_dir):
    task = base_task()
    del task["programs"]["strategies"]
    del task["data"]["valid"]
    loaded = load_task(write_task(task_dir, task))
    assert loaded.programs.strategies == ["general", "description", "keywords", "rules"]
    assert len(loaded.notes) == 1 and "exemplars strategy is left out" in loaded.notes[0]
    task["data"]["valid"] = "valid.jsonl"  # with labeled rows, the defaults stay
    loaded = load_task(write_task(task_dir, task))
    assert "exemplars" in loaded.programs.strategies and loaded.notes == ()


def test_explicit_exemplars_without_valid_suggest_removing_it(task_dir):
    task = base_task(programs={"count": 2, "strategies": ["general", "exemplars"]})
    del task["data"]["valid"]
    with pytest.raises(TaskError, match="add data.exemplars, data.valid or "
                                        "programs.supplementary.exemplars, or remove 'exemplars'"):
        load_task(write_task(task_dir, task))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"encoding": "latin-42"}, "data.encoding: unknown encoding 'latin-42'"),
        ({"delimiter": ";;"}, "data.delimiter: "),
    ],
)
def test_bad_encoding_and_delimiter_are_named(task_dir, data, message):
    task = base_task()
    task["data"].update(data)
    with pytest.raises(TaskError, match=message):
        load_task(write_task(task_dir, task))


@pytest.mark.parametrize(("version", "error"), [
    ("2.1.0", None),
    ("3.0.0rc1", None),
    (2, None),
    (1.10, "version: quote it ('1.1'): YAML reads an unquoted version as a number"),
    ("1.0.0+abc", "version: '1.0.0+abc' is not a version pip orders; e.g. 1.2.0 or 2.0.0rc1"),
    ("banana", "version: 'banana' is not a version pip orders"),
])
def test_version_key(task_dir, version, error):
    path = write_task(task_dir, base_task(version=version))
    if error is None:
        assert load_task(path).version == str(version)
    else:
        with pytest.raises(TaskError, match=re.escape(error)):
            load_task(path)
