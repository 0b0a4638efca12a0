"""Stage 2: splits, gold labels by index or name, errors that name the file and row."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import base_task, rows_of, write_jsonl, write_task

from alchemist_compiler.data import load_dataset
from alchemist_compiler.errors import DataError
from alchemist_compiler.task import load_task


def test_splits_and_labels(task_dir):
    dataset = load_dataset(load_task(task_dir / "task.yaml"))
    assert len(dataset.train) == 48 and len(dataset.valid) == 12
    assert dataset.train.labels is None  # the train label column is ignored
    assert dataset.valid.labels.tolist() == [0] * 6 + [1] * 6


def test_labels_by_class_name_csv_and_gzip(task_dir):
    (task_dir / "valid.csv").write_text("text,label\nhello,ham\nbuy now,spam\n", encoding="utf-8")
    with gzip.open(task_dir / "train.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "a"}) + "\n" + json.dumps({"text": None}) + "\n")
    task = base_task()
    task["data"].update(train="train.jsonl.gz", valid="valid.csv")
    dataset = load_dataset(load_task(write_task(task_dir, task)))
    assert dataset.valid.labels.tolist() == [0, 1]
    assert dataset.train.inputs == ["a", ""]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "a", "label": 0}, {"text": "b", "label": 7}], "valid.jsonl: row 2: label 7 is not one of"),
        ([{"text": "a", "label": "eggs"}], "valid.jsonl: row 1: label 'eggs'"),
        ([{"text": "a"}], "valid.jsonl: row 1: no column 'label' \\(data.label\\); the columns are 'text'$"),
        ([{"body": "a", "label": 0}],
         "valid.jsonl: row 1: no column 'text' \\(data.input\\); the columns are 'body', 'label'$"),
        ([{"text": 3, "label": 0}], "row 1: column 'text' is int, expected text"),
    ],
)
def test_bad_rows_are_named(task_dir, rows, message):
    write_jsonl(task_dir / "valid.jsonl", rows)
    with pytest.raises(DataError, match=message):
        load_dataset(load_task(task_dir / "task.yaml"))


def test_empty_train_and_broken_json(task_dir):
    (task_dir / "train.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="data.train: train.jsonl has no rows"):
        load_dataset(load_task(task_dir / "task.yaml"))
    (task_dir / "train.jsonl").write_text('{"text": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match="train.jsonl: row 2: invalid JSON"):
        load_dataset(load_task(task_dir / "task.yaml"))


def test_weak_labels_column(task_dir):
    rows = [{"text": "a", "label": 0, "weak": [0, -1]}, {"text": "b", "label": 1, "weak": [1, 1]}]
    for split in ("train", "valid", "test"):
        write_jsonl(task_dir / f"{split}.jsonl", rows)
    task = base_task(programs={"count": 0, "weak_labels_column": "weak"})
    dataset = load_dataset(load_task(write_task(task_dir, task)))
    assert dataset.train.weak_labels.tolist() == [[0, -1], [1, 1]]
    write_jsonl(task_dir / "test.jsonl", [{"text": "a", "label": 0, "weak": [0, 5]}])
    with pytest.raises(DataError, match="test.jsonl: row 1: 'weak' must be a list of ints"):
        load_dataset(load_task(task_dir / "task.yaml"))


def test_unicode_line_separators_inside_text_are_not_row_breaks(task_dir):
    rows = [{"text": "before\u0085after\u2028end", "label": 0}, {"text": "b", "label": 1}]
    write_jsonl(task_dir / "valid.jsonl", rows)
    (task_dir / "valid.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dataset = load_dataset(load_task(task_dir / "task.yaml"))
    assert dataset.valid.inputs == ["before\u0085after\u2028end", "b"]


def load_valid_csv(task_dir, content: str | bytes, suffix=".csv", **data):
    path = task_dir / f"valid{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    task = base_task()
    task["data"].update(valid=path.name, **data)
    return load_dataset(load_task(write_task(task_dir, task)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text, label\nhello, ham\n",
         "no column 'label' (data.label); the columns are 'text', ' label'; did you mean ' label'? "
         "(remove the spaces around it)"),
        ("Text,label\nhello,ham\n",
         "no column 'text' (data.input); the columns are 'Text', 'label'; did you mean 'Text'? "
         "(names are case-sensitive)"),
        ("text;label\nhello;ham\n",
         "no column 'text' (data.input); the columns are 'text;label'; the header looks ';'-separated: "
         'set data.delimiter: ";"'),
        ("text\tlabel\nhello\tham\n",
         "the header looks tab-separated: set data.delimiter: \"\\t\""),
        ("texts,label\nhello,ham\n", "the columns are 'texts', 'label'; did you mean 'texts'?"),
        ("hello there,ham\nbuy now,spam\n",
         "the columns are 'hello there', 'ham'; the first line of the file must be the header"),
    ],
)
def test_header_problems_get_a_hint(task_dir, content, message):
    with pytest.raises(DataError) as err:
        load_valid_csv(task_dir, content)
    assert str(err.value).startswith("valid.csv: row 1: ")
    assert message in str(err.value)


def test_tsv_delimiter_encoding_and_byte_order_mark(task_dir):
    assert load_valid_csv(task_dir, "text\tlabel\nhello\tham\n", ".tsv").valid.labels.tolist() == [0]
    assert load_valid_csv(task_dir, "text;label\nhi;spam\n", delimiter=";").valid.inputs == ["hi"]
    latin = "text,label\ncaf\u00e9,ham\n".encode("latin-1")
    with pytest.raises(DataError, match="valid.csv: not valid utf-8: set data.encoding"):
        load_valid_csv(task_dir, latin)
    assert load_valid_csv(task_dir, latin, encoding="latin-1").valid.inputs == ["caf\u00e9"]
    bom = "\ufefftext,label\nhi,ham\n".encode()
    assert load_valid_csv(task_dir, bom).valid.inputs == ["hi"]


def test_label_names_match_whatever_their_case_when_unambiguous(task_dir):
    dataset = load_valid_csv(task_dir, "text,label\na,HAM\nb, Spam \nc,1\nd,0\n")
    assert dataset.valid.labels.tolist() == [0, 1, 1, 0]
    with pytest.raises(DataError, match=r"row 1: label 'spma' is not one of the classes \['ham', "
                                        r"'spam'\] \(did you mean 'spam'\?\)$"):
        load_valid_csv(task_dir, "text,label\na,spma\n")


def test_label_case_is_kept_when_two_classes_differ_only_by_case(task_dir):
    task = base_task(classes=["spam", "SPAM"])
    write_jsonl(task_dir / "valid.jsonl", [{"text": "a", "label": "SPAM"}, {"text": "b", "label": "spam"}])
    assert load_dataset(load_task(write_task(task_dir, task))).valid.labels.tolist() == [1, 0]
    write_jsonl(task_dir / "valid.jsonl", [{"text": "a", "label": "Spam"}])
    with pytest.raises(DataError, match="label 'Spam' is not one of the classes"):
        load_dataset(load_task(task_dir / "task.yaml"))


def test_test_split_that_repeats_valid_gets_a_warning(task_dir):
    task = base_task()
    write_jsonl(task_dir / "test.jsonl", rows_of([["other ham"] * 3, ["other spam"] * 3]))
    assert load_dataset(load_task(task_dir / "task.yaml")).notes == ()
    task["data"]["test"] = "valid.jsonl"
    notes = load_dataset(load_task(write_task(task_dir, task))).notes
    assert notes == ("data.test is the same file as data.valid: test metrics are not independent "
                     "of what valid chose",)
    (task_dir / "copy.jsonl").write_bytes((task_dir / "valid.jsonl").read_bytes())
    task["data"]["test"] = "copy.jsonl"
    notes = load_dataset(load_task(write_task(task_dir, task))).notes
    assert notes[0].startswith("12 of 12 data.test rows are also in data.valid (same input and label)")


def test_exemplars_that_repeat_valid_get_a_warning(task_dir):
    task = base_task()
    write_jsonl(task_dir / "exemplars.jsonl", rows_of([["other ham"], ["other spam"]]))
    del task["data"]["test"]  # the fixture's test repeats valid
    task["data"]["exemplars"] = "exemplars.jsonl"
    assert load_dataset(load_task(write_task(task_dir, task))).notes == ()
    task["data"]["exemplars"] = "valid.jsonl"
    notes = load_dataset(load_task(write_task(task_dir, task))).notes
    assert notes == ("data.exemplars is the same file as data.valid: the LLM sees rows that then "
                     "choose its programs (valid keeps them)",)
