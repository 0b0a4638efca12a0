"""Stage 2: splits, gold labels by index or name, errors that name the file and row."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import base_task, write_jsonl, write_task

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
        ([{"text": "a"}], "valid.jsonl: row 1: no label column 'label'"),
        ([{"body": "a", "label": 0}], "valid.jsonl: row 1: no column 'text'"),
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
