"""`alchemist init DATA_FILE` writes a task.yaml that loads; the Python API raises typed errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import HAM, SPAM, base_task, rows_of, write_jsonl, write_task

from alchemist_compiler import AlchemistError, OutputDirError, TaskError, compile_task
from alchemist_compiler.cli import main
from alchemist_compiler.data import load_dataset
from alchemist_compiler.task import load_task


def init(folder, data_file: str, *extra: str):
    return CliRunner().invoke(main, ["init", str(folder / data_file), "-o", str(folder / "task.yaml"),
                                     *extra])


def test_init_reads_a_semicolon_csv_with_cased_labels_and_finds_valid(tmp_path):
    (tmp_path / "data").mkdir()
    header = "id;Review;Sentiment\n"
    (tmp_path / "data" / "train.csv").write_text(
        header + "1;great product, loved it;Positive\n2;broke after a day;negative\n3;fine;positive\n")
    (tmp_path / "data" / "valid.csv").write_text(header + "1;good;positive\n2;bad;Negative\n")
    result = init(tmp_path, "data/train.csv")
    assert result.exit_code == 0, result.output
    task = load_task(tmp_path / "task.yaml")
    assert (task.data.input, task.data.label, task.data.delimiter) == ("Review", "Sentiment", ";")
    assert task.class_names == ["negative", "Positive"]  # one class per name, whatever its case
    assert task.data.valid == tmp_path / "data" / "valid.csv"
    dataset = load_dataset(task)
    assert dataset.valid.labels.tolist() == [1, 0]
    assert dataset.train.inputs[0] == "great product, loved it"
    assert "# CHECK" in (tmp_path / "task.yaml").read_text()


def test_init_guesses_columns_by_content_and_integer_labels(tmp_path):
    rows = [{"a": f"a long comment number {i} about the product", "b": i % 3, "c": "x"} for i in range(30)]
    write_jsonl(tmp_path / "pool.jsonl", rows)
    assert init(tmp_path, "pool.jsonl").exit_code == 0
    task = load_task(tmp_path / "task.yaml")
    assert (task.data.input, task.data.label) == ("a", "b")
    assert task.class_names == ["class_0", "class_1", "class_2"]
    assert task.data.valid is None


def test_init_never_overwrites_a_task_file_without_force(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", rows_of([HAM, SPAM]))
    (tmp_path / "task.yaml").write_text("mine")
    result = init(tmp_path, "train.jsonl")
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path / 'task.yaml'} exists: not overwritten (--force replaces it)\n"
    assert (tmp_path / "task.yaml").read_text() == "mine"
    assert init(tmp_path, "train.jsonl", "--force").exit_code == 0
    assert load_task(tmp_path / "task.yaml").class_names == ["class_0", "class_1"]


def test_api_raises_the_clis_errors_as_exceptions(task_dir):
    with pytest.raises(OutputDirError, match="refusing to replace .*: it contains task.yaml"):
        compile_task(task_dir / "task.yaml", task_dir, show_progress=False)
    write_task(task_dir, {**base_task(), "colour": "red"})
    with pytest.raises(TaskError, match="^task.yaml: colour: unknown key$"):
        compile_task(task_dir / "task.yaml", task_dir / "out", show_progress=False)
    assert issubclass(OutputDirError, AlchemistError) and issubclass(TaskError, AlchemistError)
    with pytest.raises(TypeError):
        compile_task(task_dir / "task.yaml", task_dir / "out", colour="red")


def test_api_compiles_and_returns_the_manifest(task_dir):
    (task_dir / "links.py").write_text('def label(x):\n    return 1 if "http" in x else -1\n')
    write_task(task_dir, base_task(programs={"count": 0, "include": ["links.py"], "min_coverage": 0.0}))
    manifest = compile_task(task_dir / "task.yaml", task_dir / "out", show_progress=False)
    written = json.loads(next((task_dir / "out").glob("src/*/manifest.json")).read_text())
    assert manifest["name"] == written["name"] == "tiny-spam"
    assert [p["file"] for p in manifest["programs"]] == [p["file"] for p in written["programs"]]
