"""The labeler CLI's readers and writers (runtime/io.py): one per format, streamed, errors that
name the file and the line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from alchemist_runtime.io import LabelWriter, iter_batches

CLASSES = ["ham", "spam"]


def read(path, fmt=None, rows=1000):
    """(rows, places) of the whole file."""
    batches = list(iter_batches(str(path), rows, fmt))
    return [r for b in batches for r in b.rows], [p for b in batches for p in b.places]


def test_txt_is_one_input_per_line_blank_lines_kept(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufefffirst\u0085still first\r\n\nthird\u2028x\n   \nfifth".encode())
    rows, places = read(path)
    assert rows == ["first\u0085still first", "", "third\u2028x", "   ", "fifth"]
    assert places == [f"in.txt: line {n}" for n in range(1, 6)]


def test_jsonl_skips_blank_lines_and_names_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1, "text": "a\\u2028b"}\n\n{"id": 2, "text": "c"}\n')
    rows, places = read(path)
    assert rows == [{"id": 1, "text": "a\u2028b"}, {"id": 2, "text": "c"}]
    assert places == ["in.jsonl: line 1", "in.jsonl: line 3"]
    path.write_text('{"text": "a"}\n\n{"text": "b"\n')
    with pytest.raises(ValueError, match=r"^in.jsonl: line 3: invalid JSON: Expecting ',' delimiter"):
        read(path)
    path.write_text('{"text": "a"}\n"just a string"\n')
    with pytest.raises(ValueError, match="^in.jsonl: line 2: expected a JSON object, got str$"):
        read(path)


def test_batches_stream_before_a_later_bad_line_is_read(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": str(i)}) + "\n" for i in range(6)) + "{bad\n")
    batches = iter_batches(str(path), 3)
    assert [r["text"] for r in next(batches).rows] == ["0", "1", "2"]
    assert next(batches).places == ["in.jsonl: line 4", "in.jsonl: line 5", "in.jsonl: line 6"]
    with pytest.raises(ValueError, match="in.jsonl: line 7: invalid JSON"):
        next(batches)


def test_csv_places_are_the_lines_where_records_start(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,b\n\n3,c\n')
    rows, places = read(path)
    assert rows == [{"id": "1", "text": "two\nlines"}, {"id": "2", "text": "b"}, {"id": "3", "text": "c"}]
    assert places == ["in.csv: line 2", "in.csv: line 4", "in.csv: line 6"]
    path.write_text("id,text\n1,a\n2,b,extra\n")
    with pytest.raises(ValueError, match="^in.csv: line 3: 3 fields, the header has 2$"):
        read(path)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00",
     r"photo.txt: line 1: not UTF-8 text \(byte 0x89 at column 1\); is it a binary file\?"),
    (b"ok\nab\x00cd\n", r"photo.txt: line 2: a NUL byte; is it a binary file\?")])
def test_binary_files_are_named_with_the_line(tmp_path, content, message):
    path = tmp_path / "photo.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{message}$"):
        read(path)


def test_missing_files_folders_and_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="nope.jsonl: no such file"):
        read(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="is a folder, not a file"):
        read(tmp_path, "jsonl")
    (tmp_path / "in.xml").write_text("<a/>")
    with pytest.raises(ValueError, match=r"in.xml: unsupported input format '.xml' \(use .txt, .jsonl, "
                                         r".ndjson, .csv, .parquet, or --input-format\)"):
        read(tmp_path / "in.xml")
    rows, _ = read(tmp_path / "in.xml", "txt")  # the format given wins over the extension
    assert rows == ["<a/>"]


def write(path, fmt, batches):
    writer = LabelWriter(str(path), fmt, CLASSES)
    for rows, labels, proba in batches:
        writer.write(rows, [f"in: line {i}" for i in range(len(rows))], labels, np.asarray(proba))
    writer.close(done=True)


def test_jsonl_output_carries_the_input_fields(tmp_path):
    out = tmp_path / "out.jsonl"
    write(out, None, [([{"id": 7, "text": "x", "label": "gold"}, "a .txt line"], ["spam", None],
                       [[0.25, 0.75], [0.5, 0.5]])])
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": 7, "text": "x", "input_label": "gold", "label": "spam", "proba": [0.25, 0.75]},
        {"label": None, "proba": [0.5, 0.5]}]


def test_csv_output_has_a_column_per_class_and_empty_abstentions(tmp_path):
    out = tmp_path / "out.csv"
    write(out, None, [([{"id": "1", "text": "a, b"}], ["ham"], [[0.9, 0.1]]),
                      ([{"id": "2", "text": ""}], [None], [[0.5, 0.5]])])
    assert out.read_bytes() == (b'id,text,label,proba_ham,proba_spam\n1,"a, b",ham,0.9,0.1\n'
                                b"2,,,0.5,0.5\n")


def test_parquet_output(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    write(out, None, [([{"id": 1}], [None], [[0.5, 0.5]]), ([{"id": 2}], ["spam"], [[0.2, 0.8]])])
    assert pq.read_table(out).to_pylist() == [{"id": 1, "label": None, "proba": [0.5, 0.5]},
                                              {"id": 2, "label": "spam", "proba": [0.2, 0.8]}]


def test_output_errors_and_a_failed_run_keeps_the_earlier_file(tmp_path):
    with pytest.raises(ValueError, match="out.csv: the folder .*missing does not exist"):
        LabelWriter(str(tmp_path / "missing" / "out.csv"), None, CLASSES)
    with pytest.raises(ValueError, match=r"out.txt: unsupported output format '.txt' \(use .jsonl, "
                                         r".ndjson, .csv, .parquet, or --output-format\)"):
        LabelWriter(str(tmp_path / "out.txt"), None, CLASSES)
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        LabelWriter(str(tmp_path), "csv", CLASSES)
    out = tmp_path / "out.jsonl"
    out.write_text("earlier\n")
    writer = LabelWriter(str(out), None, CLASSES)
    writer.write([{"id": 1}], ["in: line 1"], ["ham"], np.array([[0.9, 0.1]]))
    writer.close(done=False)
    assert out.read_text() == "earlier\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
