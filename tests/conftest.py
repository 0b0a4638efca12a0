"""Shared fixtures: small task folders written on the fly, and paths to the bundled examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from alchemist_compiler.review.summary import SCHEMA_PATH

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# What a program that got past vetting and the restricted builtins would do: reach os's globals.
ESCAPE_TO_OS = """
def _os():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            return cls.__init__.__globals__
"""
SPAM = ["check out my channel http://x.co", "subscribe to me please!!", "visit my site www.win.com",
        "free money click here", "follow me on instagram", "subscribe subscribe plz"]
HAM = ["love this song", "great video, brings back memories", "she sings so well",
       "this is my favourite", "2015 and still listening", "the beat is amazing"]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def rows_of(texts_by_label: list[list[str]]) -> list[dict]:
    return [{"text": t, "label": label} for label, texts in enumerate(texts_by_label) for t in texts]


def base_task(**overrides) -> dict:
    task = {
        "name": "tiny-spam",
        "description": "Classify comments as spam or ham.",
        "modality": "text",
        "classes": [{"name": "ham", "description": "genuine"}, {"name": "spam", "description": "promotion"}],
        "data": {"train": "train.jsonl", "valid": "valid.jsonl", "test": "test.jsonl",
                 "input": "text", "label": "label"},
        "llm": {"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY"},
        "programs": {"count": 2, "strategies": ["general", "keywords"]},
        "distill": {"seeds": 1, "epochs": 5},
    }
    for key, value in overrides.items():
        task[key] = value
    return task


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """A folder with task.yaml and small labeled splits (train 48, valid 12, test 12 rows)."""
    write_jsonl(tmp_path / "train.jsonl", rows_of([HAM * 4, SPAM * 4]))
    write_jsonl(tmp_path / "valid.jsonl", rows_of([HAM, SPAM]))
    write_jsonl(tmp_path / "test.jsonl", rows_of([HAM, SPAM]))
    write_task(tmp_path, base_task())
    return tmp_path


def write_task(folder: Path, task: dict) -> Path:
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
    return path


def example_split(name: str, split: str) -> list[dict]:
    """Rows of a bundled example's data split (fetched by examples/fetch.py)."""
    import sys

    sys.path.insert(0, str(EXAMPLES))
    from fetch import fetch

    fetch(name)
    path = EXAMPLES / name / "data" / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def schema_errors(summary: dict) -> list[str]:
    """What is wrong with a `compile --json` summary, by the committed schema."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    return [error.message for error in validator.iter_errors(summary)]
