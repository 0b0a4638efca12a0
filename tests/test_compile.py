"""End to end: compile the youtube example from its lock, install the wheel, use the labeler."""

from __future__ import annotations

import filecmp
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, example_split

from alchemist_compiler.cli import main
from alchemist_compiler.pipeline import Options, compile_task

IMPORT_NAME = "youtube_spam_labeler"


@pytest.fixture(scope="session")
def youtube_labeler(tmp_path_factory) -> Path:
    example_split("youtube", "train")  # fetch the data
    out = tmp_path_factory.mktemp("compiled") / "labeler"
    compile_task(EXAMPLES / "youtube" / "task.yaml", out, Options(offline=True, show_progress=False))
    return out


@pytest.fixture(scope="session")
def installed(youtube_labeler, tmp_path_factory) -> Path:
    """The wheel installed with pip, no index, no dependencies (numpy/onnxruntime are here)."""
    target = tmp_path_factory.mktemp("site")
    wheel = next((youtube_labeler / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--target", str(target), str(wheel)], check=True)
    return target


def run_installed(site: Path, code: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{code}",
                             *args], capture_output=True, text=True, check=True)
    return result.stdout


def test_package_layout_and_manifest_hashes(youtube_labeler):
    package = youtube_labeler / "src" / IMPORT_NAME
    for name in ("__init__.py", "__main__.py", "label_model.json", "model.onnx", "manifest.json",
                 "_runtime/labeler.py", "_runtime/sandbox.py"):
        assert (package / name).is_file(), name
    assert (youtube_labeler / "pyproject.toml").is_file() and (youtube_labeler / "README.md").is_file()
    manifest = json.loads((package / "manifest.json").read_text())
    programs = sorted(p.name for p in (package / "programs").glob("p*.py"))
    assert [p["file"] for p in manifest["programs"]] == programs
    assert programs[0].startswith("p01_")
    for relative, digest in manifest["artifacts"].items():
        assert hashlib.sha256((package / relative).read_bytes()).hexdigest() == digest, relative
    assert str(youtube_labeler) not in (package / "manifest.json").read_text()  # no absolute paths
    dependencies = (youtube_labeler / "pyproject.toml").read_text()
    assert '"numpy>=' in dependencies and '"onnxruntime>=' in dependencies
    assert "torch" not in dependencies and "snorkel" not in dependencies


def test_program_files_carry_provenance(youtube_labeler):
    first = next((youtube_labeler / "src" / IMPORT_NAME / "programs").glob("p01_*.py")).read_text()
    assert "Written by gpt-4o-mini as program 1 (strategy: general); request sha256" in first
    assert "Train coverage" in first and "def label(" in first


def test_installed_wheel_reproduces_the_compilers_metrics(youtube_labeler, installed):
    manifest = json.loads((youtube_labeler / "src" / IMPORT_NAME / "manifest.json").read_text())
    expected = {(m["split"], m["model"]): m["accuracy"] for m in manifest["metrics"]}
    code = f"""
import json
from {IMPORT_NAME} import Labeler
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
texts, gold = [r["text"] for r in rows], [r["label"] for r in rows]
lab = Labeler()
distilled = (lab.predict_proba(texts).argmax(1) == gold).mean()
votes = (lab.vote_proba(texts).argmax(1) == gold).mean()
combined = (lab.predict_proba(texts, programs=True).argmax(1) == gold).mean()
lab.close()
print(json.dumps([round(float(a), 6) for a in (distilled, votes, combined)]))
"""
    got = json.loads(run_installed(installed, code, str(EXAMPLES / "youtube/data/test.jsonl")))
    assert got == [expected[("test", "distilled")], expected[("test", "label model")],
                   expected[("test", "combined")]]


def test_labeler_api_vote_and_explain(installed):
    code = f"""
import json
import {IMPORT_NAME} as pkg
lab = pkg.Labeler()
texts = ["check out my channel http://bit.ly/xyz", "love this song so much"]
more = texts + ["zzz", "the weather report for tuesday mentions rain in the northern parts today"]
out = {{"predict": lab.predict(texts), "module_predict": pkg.predict(texts),
       "shape": list(lab.predict_proba(texts).shape), "vote": lab.vote(more),
       "votes": lab.votes(more).tolist(),
       "explain": lab.explain(texts[0]), "heavy": [m for m in ("torch", "snorkel", "libcst", "sklearn", "pandas") if m in sys.modules]}}
lab.close()
print(json.dumps(out))
"""
    out = json.loads(run_installed(installed, code))
    assert out["predict"] == ["spam", "ham"] == out["module_predict"]
    assert out["shape"] == [2, 2]
    assert out["vote"][0] == "spam"
    for label, votes in zip(out["vote"], out["votes"]):
        assert (label is None) == all(v == -1 for v in votes)  # None only where all abstain
    assert None in out["vote"]
    explain = out["explain"]
    assert explain["distilled"]["prediction"] == "spam"
    assert "spam" in explain["votes"].values()
    assert explain["label_model"]["posterior"]["spam"] > 0.5
    assert out["heavy"] == []


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv"])
def test_python_m_predict(installed, tmp_path, suffix):
    texts = ["subscribe to my channel", "what a beautiful voice"]
    source = tmp_path / f"in{suffix}"
    if suffix == ".txt":
        source.write_text("\n".join(texts) + "\n")
    elif suffix == ".jsonl":
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    else:
        source.write_text("text\n" + "\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    subprocess.run([sys.executable, "-m", IMPORT_NAME, "predict", str(source), "-o", str(out)],
                   check=True, env={"PYTHONPATH": str(installed)}, capture_output=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["spam", "ham"]
    assert all(len(r["proba"]) == 2 and abs(sum(r["proba"]) - 1) < 1e-4 for r in rows)


def test_recompile_is_byte_identical(youtube_labeler, tmp_path):
    again = tmp_path / "again"
    compile_task(EXAMPLES / "youtube" / "task.yaml", again, Options(offline=True, show_progress=False))
    comparison = filecmp.dircmp(youtube_labeler, again)
    differences = []

    def collect(cmp):
        differences.extend(cmp.diff_files + cmp.left_only + cmp.right_only)
        for sub in cmp.subdirs.values():
            collect(sub)

    collect(comparison)
    assert differences == []
    wheels = [next((d / "dist").glob("*.whl")).read_bytes() for d in (youtube_labeler, again)]
    assert wheels[0] == wheels[1]


def test_bad_task_exits_2_with_one_line_and_writes_nothing(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text((EXAMPLES / "youtube/task.yaml").read_text().replace("train: data/train.jsonl",
                                                                         "train: data/train.jsonl\n  trian: x"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(task), "-o", str(out)])
    assert result.exit_code == 2
    assert result.output.strip() == "error: task.yaml: data.trian: unknown key (did you mean train?)"
    assert not out.exists()


def test_text_inputs_are_a_batch_of_strings(installed):
    code = f"""
import json
from {IMPORT_NAME} import Labeler
lab = Labeler()
out = {{}}
for method in ("predict", "predict_proba", "vote", "votes"):
    for case, inputs in (("bare", "subscribe to my channel"), ("none", ["ok", None]),
                         ("bytes", [b"ok"]), ("number", [3])):
        try:
            getattr(lab, method)(inputs)
            out[method + " " + case] = None
        except TypeError as err:
            out[method + " " + case] = str(err)
try:
    lab.explain(["a list"])
except TypeError as err:
    out["explain list"] = str(err)
out["explain str"] = lab.explain("subscribe to my channel")["distilled"]["prediction"]
lone = "check out my channel \\ud800 http://x.co"
out["surrogates"] = [lab.predict_proba([lone]).tolist() == lab.predict_proba([lone.replace("\\ud800", "\\ufffd")]).tolist(),
                     lab.vote([lone]) == lab.vote([lone.replace("\\ud800", "\\ufffd")])]
lab.close()
print(json.dumps(out))
"""
    out = json.loads(run_installed(installed, code))
    for method in ("predict", "predict_proba", "vote", "votes"):
        assert out[f"{method} bare"].startswith("expected a batch (a list) of inputs, each a str")
        assert out[f"{method} none"] == "input 1 is NoneType, expected str"
        assert out[f"{method} bytes"] == "input 0 is bytes, expected str"
        assert out[f"{method} number"] == "input 0 is int, expected str"
    assert out["explain list"] == "the input is list, expected str"
    assert out["explain str"] == "spam"
    assert out["surrogates"] == [True, True]


def test_a_10_mb_input_is_cut_to_max_chars_and_memory_stays_flat(installed):
    """Predictions and votes on one 10 MB string: under 200 MB above the labeler's baseline."""
    code = f"""
from {IMPORT_NAME} import Labeler

def peak_mb():
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status")
                if line.startswith("VmHWM"))

lab = Labeler()
lab.predict(["warm up"]), lab.vote(["warm up"])
big = "check out my channel http://x.co " * 330_000
baseline = peak_mb()
same = lab.predict([big]) == lab.predict([big[:lab.inputs.spec["max_chars"]]])
lab.vote([big])
lab.close()
print(len(big), peak_mb() - baseline, same)
"""
    length, growth, same = run_installed(installed, code).split()
    assert int(length) > 10_000_000
    assert int(growth) < 200, f"{growth} MB above baseline"
    assert same == "True"
