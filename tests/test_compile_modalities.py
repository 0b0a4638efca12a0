"""End to end for tabular (census) and time-series (ecg) tasks: compile from the lock, install the
wheel, check it reproduces the compiler, refuses other inputs, and handles bad rows."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES

from alchemist_compiler.pipeline import Options, compile_task

EXAMPLE_IMPORTS = {"census": "census_income_labeler", "ecg": "ecg_beats_labeler"}


def fetch(name: str) -> None:
    sys.path.insert(0, str(EXAMPLES))
    from fetch import fetch as fetch_example

    fetch_example(name)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """name -> (compiled folder, site folder with the wheel installed), compiled once."""
    done = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in done:
            fetch(name)
            out = tmp_path_factory.mktemp(name) / "labeler"
            compile_task(EXAMPLES / name / "task.yaml", out, Options(offline=True, show_progress=False))
            site = tmp_path_factory.mktemp(f"{name}-site")
            wheel = next((out / "dist").glob("*.whl"))
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                            "--no-deps", "--target", str(site), str(wheel)], check=True)
            done[name] = (out, site)
        return done[name]

    return get


@pytest.fixture(params=sorted(EXAMPLE_IMPORTS))
def example(request, compiled):
    """(name, compiled folder, site folder), for each example."""
    return (request.param, *compiled(request.param))


def run_installed(site: Path, code: str, *args: str) -> dict:
    """Run code with the installed labeler importable; it prints one JSON object."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{code}", *args],
        capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def manifest_of(out: Path, name: str) -> dict:
    return json.loads((out / "src" / EXAMPLE_IMPORTS[name] / "manifest.json").read_text())


def test_manifest_records_the_modality_the_inferred_input_and_the_featurizer(example):
    name, out, _ = example
    manifest = manifest_of(out, name)
    if name == "census":
        assert manifest["modality"] == "tabular" and manifest["featurizer"]["name"] == "tabular"
        types = {c["name"]: c["type"] for c in manifest["input"]["columns"]}
        assert types["age"] == types["capital_gain"] == "numeric"
        assert types["workclass"] == types["native_country"] == "categorical"
        assert "income" not in types and "label" not in types
        assert manifest["input"]["missing"] == ["?"]
    else:
        assert manifest["modality"] == "timeseries" and manifest["featurizer"]["name"] == "window"
        assert manifest["input"]["length"] == 252 and manifest["input"]["rate_hz"] == 360
        assert manifest["input"]["columns"][:2] == ["x0", "x1"]
        assert manifest["input"]["columns"][-1] == "x251"
    test = next(m for m in manifest["metrics"] if m["split"] == "test" and m["model"] == "distilled")
    assert len(test["recall"]) == len(manifest["classes"])
    pyproject = (out / "pyproject.toml").read_text()
    assert "onnxruntime-extensions" not in pyproject


def test_installed_wheel_reproduces_the_compilers_metrics(example):
    """The labeler reads the raw CSV rows (strings, as `python -m ... predict` does)."""
    name, out, site = example
    manifest = manifest_of(out, name)
    expected = {(m["split"], m["model"]): m["accuracy"] for m in manifest["metrics"]}
    code = f"""
import csv, json
from {EXAMPLE_IMPORTS[name]} import Labeler
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
gold = [int(r["label"]) for r in rows]
lab = Labeler()
distilled = (lab.predict_proba(rows).argmax(1) == gold).mean()
votes = (lab.vote_proba(rows).argmax(1) == gold).mean()
lab.close()
print(json.dumps([round(float(distilled), 6), round(float(votes), 6)]))
"""
    got = run_installed(site, code, str(EXAMPLES / name / "data" / "test.csv"))
    assert got == [expected[("test", "distilled")], expected[("test", "label model")]]


def test_the_labeler_refuses_other_kinds_of_input(example):
    name, _, site = example
    code = f"""
import json
from {EXAMPLE_IMPORTS[name]} import Labeler
lab = Labeler()
errors = []
for inputs in (["a comment about the video"], [{{"text": "hi"}}], "a bare string", [None]):
    try:
        lab.predict(inputs)
        errors.append(None)
    except (TypeError, ValueError) as err:
        errors.append(type(err).__name__ + ": " + str(err))
print(json.dumps(errors))
"""
    errors = run_installed(site, code)
    assert None not in errors
    one_input = "a dict (one row" if name == "census" else "a window"
    assert errors[0] == f"TypeError: input 0 is str, expected {one_input}" + (
        ": column -> value)" if name == "census" else " (a list of numbers)")
    assert errors[1].startswith("ValueError: input 0: no column ")
    assert errors[2].startswith("TypeError: expected a batch (a list) of inputs")
    assert errors[3].startswith("TypeError: input 0 is NoneType")


def first_test_row(name: str, label: str = "0") -> dict:
    with (EXAMPLES / name / "data" / "test.csv").open(encoding="utf-8") as handle:
        return next(r for r in csv.DictReader(handle) if r["label"] == label)


def test_census_bad_rows_get_an_error_or_the_missing_value_treatment(compiled):
    name = "census"
    _, site = compiled(name)
    row = first_test_row(name, label="1")  # a high earner: probabilities far from 0 and 1
    code = """
import json, math
from census_income_labeler import Labeler
lab = Labeler()
row = json.loads(sys.argv[1])
def outcome(r):
    try:
        return [lab.predict_proba([r])[0].tolist(), lab.vote([r])[0]]
    except (TypeError, ValueError) as err:
        return type(err).__name__ + ": " + str(err)
cases = {
    "as_given": row,
    "extra_column": dict(row, favourite_colour="blue"),
    "missing_column": {k: v for k, v in row.items() if k != "age"},
    "string_in_numeric": dict(row, age="forty"),
    "nan": dict(row, age=math.nan),
    "inf": dict(row, age=math.inf),
    "none": dict(row, age=None),
    "missing_token": dict(row, age="?"),
    "unseen_category": dict(row, native_country="Atlantis"),
}
print(json.dumps({k: outcome(v) for k, v in cases.items()}))
"""
    got = run_installed(site, code, json.dumps(row))
    assert got["extra_column"] == got["as_given"]  # ignored
    assert got["missing_column"] == "ValueError: input 0: no column 'age'"
    assert got["string_in_numeric"] == "ValueError: input 0: column 'age' is numeric, got 'forty'"
    assert got["nan"] == got["inf"] == got["none"] == got["missing_token"]  # all missing
    assert got["nan"] != got["as_given"]
    assert isinstance(got["unseen_category"], list)  # the model's unknown bucket


def test_ecg_bad_windows_are_errors_never_tracebacks(compiled, tmp_path):
    name = "ecg"
    _, site = compiled(name)
    row = first_test_row(name)
    short = {k: v for k, v in row.items() if k != "x251"}
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
        writer.writerow(dict(row, x17="nan"))
    result = subprocess.run([sys.executable, "-m", EXAMPLE_IMPORTS[name], "predict", str(bad),
                             "-o", str(tmp_path / "out.jsonl")],
                            env={"PYTHONPATH": str(site)}, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: bad.csv: line 3: value 17 is nan; a window must be finite"
    code = """
import json
from ecg_beats_labeler import Labeler
lab = Labeler()
window = [float(v) for v in json.loads(sys.argv[1])]
errors = {}
for case, batch in {"short": [window[:-1]], "long": [window + [0.0]], "row": [json.loads(sys.argv[2])]}.items():
    try:
        lab.predict(batch)
    except (TypeError, ValueError) as err:
        errors[case] = str(err)
errors["ok"] = lab.predict([window]) == lab.predict([dict(zip([f"x{i}" for i in range(252)], window))])
print(json.dumps(errors))
"""
    window = [row[f"x{i}"] for i in range(252)]
    got = run_installed(site, code, json.dumps(window), json.dumps(short))
    assert got == {"short": "input 0: window has 251 values, expected 252",
                   "long": "input 0: window has 253 values, expected 252",
                   "row": "input 0: no column 'x251'", "ok": True}
