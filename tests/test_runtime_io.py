"""The labeler's file reading and writing (python -m <labeler> predict IN -o OUT)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alchemist_runtime.io import read_rows, write_predictions
from alchemist_runtime.modalities.text import TextInput


def read_inputs(path, column):
    return TextInput({"column": column, "max_chars": 100}).from_rows(read_rows(path), path.name)


def test_txt_is_one_input_per_line_and_keeps_unicode_separators(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("first\u0085still first\r\nsecond\n\nfourth".encode())
    assert read_inputs(path, "text") == ["first\u0085still first", "second", "", "fourth"]


def test_jsonl_and_csv_read_the_input_column(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"body": "a\\u2028b"}\n\n{"body": "c"}\n')
    assert read_inputs(tmp_path / "in.jsonl", "body") == ["a\u2028b", "c"]
    (tmp_path / "in.csv").write_text('id,body\n1,"x, y"\n2,z\n')
    assert read_inputs(tmp_path / "in.csv", "body") == ["x, y", "z"]


def test_missing_column_and_unknown_format_are_named(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"body": "a"}\n{"text": "b"}\n')
    with pytest.raises(ValueError, match="in.jsonl: row 2 has no 'body' field"):
        read_inputs(tmp_path / "in.jsonl", "body")
    (tmp_path / "in.xml").write_text("<a/>")
    with pytest.raises(ValueError, match="unsupported input format"):
        read_inputs(tmp_path / "in.xml", "body")


def test_predictions_are_one_json_object_per_line(tmp_path):
    out = tmp_path / "out.jsonl"
    write_predictions(out, ["spam", "ham"], np.array([[0.25, 0.75], [0.9, 0.1]]))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"label": "spam", "proba": [0.25, 0.75]}, {"label": "ham", "proba": [0.9, 0.1]}]
