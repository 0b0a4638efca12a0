"""A train split larger than memory: read in chunks, program inputs spooled to disk, programs
applied a block at a time, the distilled model trained on a seeded sample."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, base_task, example_split, write_jsonl, write_task

from alchemist_compiler.data import load_dataset, read_rows, row_chunks
from alchemist_compiler.errors import DataError
from alchemist_compiler.pipeline import Options, compile_task
from alchemist_compiler.spool import SpooledInputs
from alchemist_compiler.task import load_task

VALUES = ["a", "", "é 🙂\n\"quoted\"", "line\u2028separator", {"age": 3.5, "job": None}, [1.0, -2.5]]


def test_spooled_inputs_read_back_what_was_written():
    chunks = [VALUES[:2], [], VALUES[2:5], VALUES[5:]]
    spooled = SpooledInputs.write(chunks)
    folder = spooled._folder
    assert len(spooled) == len(VALUES) and list(spooled) == VALUES
    assert spooled[2] == VALUES[2] and spooled[-1] == VALUES[-1]
    assert spooled[1:4] == VALUES[1:4] and spooled[4:100] == VALUES[4:] and spooled[3:1] == []
    assert spooled[::2] == VALUES[::2]
    with pytest.raises(IndexError):
        spooled[len(VALUES)]
    del spooled
    gc.collect()
    assert not folder.exists()


def test_chunks_are_the_rows_read_rows_reads(tmp_path):
    rows = [{"text": f"row {i}", "label": i % 2} for i in range(7)]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    (tmp_path / "rows.csv").write_text(
        "text,label\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in rows), encoding="utf-8")
    for name in ("rows.jsonl", "rows.csv"):
        chunks = list(row_chunks(tmp_path / name, size=3))
        assert [len(c) for c in chunks] == [3, 3, 1]
        assert [r for c in chunks for r in c] == read_rows(tmp_path / name)


def _chunked_task(task_dir: Path, chunk_rows: int) -> Path:
    task = base_task()
    task["data"]["chunk_rows"] = chunk_rows
    return write_task(task_dir, task)


def test_a_train_split_of_several_chunks_is_spooled_with_the_same_inputs(task_dir):
    in_memory = load_dataset(load_task(task_dir / "task.yaml")).train
    spooled = load_dataset(load_task(_chunked_task(task_dir, 5))).train
    assert isinstance(in_memory.inputs, list) and isinstance(spooled.inputs, SpooledInputs)
    assert list(spooled.inputs) == in_memory.inputs


def test_a_bad_row_in_a_later_chunk_is_named_by_its_row_number(task_dir):
    rows = [{"text": f"comment {i}"} for i in range(12)]
    rows[9] = {"body": "no text column"}
    write_jsonl(task_dir / "train.jsonl", rows)
    with pytest.raises(DataError, match=r"train.jsonl: row 10: no column 'text'"):
        load_dataset(load_task(_chunked_task(task_dir, 4)))


def _youtube_variant(folder: Path, **sections) -> Path:
    sys.path.insert(0, str(EXAMPLES.parent / "benchmarks"))
    from variants import variant_task

    example_split("youtube", "train")  # fetch the data
    folder.mkdir()
    return variant_task("youtube", folder, **sections)


def _package_files(out: Path) -> dict[str, bytes]:
    package = next((out / "src").iterdir())
    return {str(p.relative_to(package)): p.read_bytes() for p in sorted(package.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_a_spooled_train_compiles_to_the_same_labeler(tmp_path):
    """youtube with train read 300 rows at a time (spooled, applied in blocks) gives the same
    program files, label model and ONNX model as in memory."""
    options = Options(offline=True, show_progress=False)
    whole = compile_task(_youtube_variant(tmp_path / "whole"), tmp_path / "out_whole", options)
    chunked = compile_task(_youtube_variant(tmp_path / "chunked", data={"chunk_rows": 300}),
                           tmp_path / "out_chunked", options)
    assert _package_files(tmp_path / "out_whole") == _package_files(tmp_path / "out_chunked")
    for key in ("metrics", "diagnostics", "cost", "distill", "content_sha256"):
        assert whole[key] == chunked[key], key


def test_the_distilled_model_trains_on_a_seeded_sample(tmp_path, capsys):
    task = _youtube_variant(tmp_path / "task", distill={"max_rows": 400})
    manifest = compile_task(task, tmp_path / "out", Options(offline=True, show_progress=True))
    written = json.loads((tmp_path / "out" / "src" / manifest["import_name"] / "manifest.json").read_text())
    assert written["distill"]["rows"] == 400 < written["distill"]["covered_train_rows"]
    assert (f"trained on a seeded sample of 400 of the {written['distill']['covered_train_rows']} "
            "covered train rows") in " ".join(capsys.readouterr().err.split())
