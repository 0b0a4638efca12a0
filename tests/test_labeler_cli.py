"""The labeler's command line (issue #11): `python -m <labeler> predict|vote IN -o OUT` with the
installed youtube labeler: output formats by extension, the input's fields carried through,
--column, stdin and stdout, --threshold, and one-line errors naming the file and line (exit 2)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from test_compile import IMPORT_NAME, installed, run_installed, youtube_labeler  # noqa: F401

ROWS = [{"id": "c1", "text": "check out my channel http://bit.ly/xyz", "label": "1"},
        {"id": "c2", "text": "love this song so much", "label": "0"},
        {"id": "c3", "text": "", "label": "0"},
        {"id": "c4", "text": "zzz", "label": "0"}]
QUIET = "the weather report for tuesday mentions rain in the northern parts today"  # no program votes


def labeler_cli(site, *args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", IMPORT_NAME, *args], input=stdin, cwd=cwd,
                          env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=False)


def api(site, method: str, texts: list[str]) -> list:
    """The Python API's labels for texts (predict or vote)."""
    code = (f"import json\nfrom {IMPORT_NAME} import Labeler\nlab = Labeler()\n"
            f"print(json.dumps(lab.{method}(json.loads(sys.argv[1]))))\nlab.close()\n")
    return json.loads(run_installed(site, code, json.dumps(texts)))


def write_csv(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("command", ["predict", "vote"])
def test_csv_in_csv_out_carries_the_fields(installed, tmp_path, command):  # noqa: F811
    write_csv(tmp_path / "in.csv", ROWS)
    result = labeler_cli(installed, command, "in.csv", "-o", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = list(csv.DictReader((tmp_path / "out.csv").open(newline="")))
    assert list(out[0]) == ["id", "text", "input_label", "label", "proba_ham", "proba_spam"]
    assert [(r["id"], r["text"], r["input_label"]) for r in out] == [
        (r["id"], r["text"], r["label"]) for r in ROWS]
    expected = api(installed, command, [r["text"] for r in ROWS])
    assert [r["label"] or None for r in out] == expected
    assert expected[2] is None  # the blank text abstains
    assert all(abs(float(r["proba_ham"]) + float(r["proba_spam"]) - 1) < 1e-5 for r in out)
    abstained = expected.count(None)
    assert result.stderr == f"labeled 4 inputs -> out.csv ({abstained} abstained)\n"


def test_jsonl_and_parquet_outputs_follow_the_extension(installed, tmp_path):  # noqa: F811
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert labeler_cli(installed, "predict", str(source), "-o", str(tmp_path / "out.jsonl")).returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert [r["label"] for r in rows] == api(installed, "predict", [r["text"] for r in ROWS])
    pq = pytest.importorskip("pyarrow.parquet")
    assert labeler_cli(installed, "predict", str(source), "-o", str(tmp_path / "out.parquet")).returncode == 0
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [{k: r[k] for k in ("id", "label")} for r in table] == [
        {k: r[k] for k in ("id", "label")} for r in rows]


def test_txt_blank_lines_are_kept_and_abstain_through_stdin_and_stdout(installed):  # noqa: F811
    lines = ["subscribe to my channel", "", "   ", "love this song"]
    result = labeler_cli(installed, "predict", "-", "--input-format", "txt", "-o", "-",
                         "--output-format", "csv", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["label"] for r in out] == ["spam", "", "", "ham"]
    assert "labeled 4 inputs -> <stdout> (2 abstained)" in result.stderr
    jsonl = labeler_cli(installed, "vote", "-", "-o", "-", stdin=json.dumps({"text": QUIET}) + "\n")
    assert json.loads(jsonl.stdout)["label"] is None  # every program abstains


def test_column_threshold_and_workers(installed, tmp_path):  # noqa: F811
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"body": r["text"]}) + "\n" for r in ROWS))
    missing = labeler_cli(installed, "predict", str(source), "-o", str(tmp_path / "out.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr == ("error: in.jsonl: line 1: no 'text' field (fields: body); choose the "
                              "input with --column\n")
    plain, strict = (labeler_cli(installed, "predict", str(source), "-o", "-", "--column", "body",
                                 "--workers", "2", "--batch-rows", "1", *extra)
                     for extra in ([], ["--threshold", "0.95"]))
    plain_rows = [json.loads(line) for line in plain.stdout.splitlines()]
    strict_rows = [json.loads(line) for line in strict.stdout.splitlines()]
    assert [r["label"] for r in plain_rows] == api(installed, "predict", [r["text"] for r in ROWS])
    assert [r["label"] for r in strict_rows] == [
        r["label"] if max(r["proba"]) >= 0.95 else None for r in plain_rows]
    assert strict_rows != plain_rows


def test_predict_with_programs_combines_both_models_like_the_api(installed):  # noqa: F811
    texts = [r["text"] for r in ROWS] + [QUIET]
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    plain, combined = (labeler_cli(installed, "predict", "-", "-o", "-", *extra, stdin=stdin)
                       for extra in ([], ["--programs"]))
    code = (f"import json\nfrom {IMPORT_NAME} import Labeler\nlab = Labeler()\n"
            "print(json.dumps(lab.predict_proba(json.loads(sys.argv[1]), programs=True).tolist()))\n"
            "lab.close()\n")
    expected = json.loads(run_installed(installed, code, json.dumps(texts)))
    got = np.array([json.loads(line)["proba"] for line in combined.stdout.splitlines()])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    plain_proba = np.array([json.loads(line)["proba"] for line in plain.stdout.splitlines()])
    np.testing.assert_allclose(got[-1], plain_proba[-1], atol=1e-6)  # no program votes: distilled
    assert np.abs(got[0] - plain_proba[0]).max() > 1e-3  # programs vote: averaged


@pytest.mark.parametrize("name, content, args, message", [
    ("in.jsonl", b'{"text": "a"}\n{"text": "b",}\n', [],
     "in.jsonl: line 2: invalid JSON: Expecting property name enclosed in double quotes (column 14)"),
    ("in.jsonl", b'{"text": "a"}\n{"text": null}\n', [], "in.jsonl: line 2 is NoneType, expected str"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n", [],
     "photo.txt: line 1: not UTF-8 text (byte 0x89 at column 1); is it a binary file?"),
    ("in.txt", b"a\n", ["-o", "missing/out.csv"], "missing/out.csv: the folder missing does not exist"),
    ("in.txt", b"a\n", ["-o", "out.txt"],
     "out.txt: unsupported output format '.txt' (use .jsonl, .ndjson, .csv, .parquet, or --output-format)"),
    ("in.txt", b"a\n", ["--column", "body"], None)])
def test_errors_are_one_line_naming_the_file_and_line(installed, tmp_path, name, content, args,  # noqa: F811
                                                       message):
    (tmp_path / name).write_bytes(content)
    output = [] if "-o" in args else ["-o", "out.jsonl"]
    result = labeler_cli(installed, "predict", name, *output, *args, cwd=tmp_path)
    if message is None:  # --column on .txt lines: accepted, the lines are the inputs
        assert result.returncode == 0, result.stderr
        return
    assert (result.returncode, result.stderr) == (2, f"error: {message}\n")
    assert not (tmp_path / "out.jsonl").exists()
