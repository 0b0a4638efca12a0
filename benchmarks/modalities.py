"""Tabular (census) and time-series (ecg) examples: quality, per-class recall, and speed.

    python benchmarks/modalities.py [--seeds N]

Per example: test metrics of the label model and the distilled model (mean over seeds), programs
kept, compile time, wheel size; then, for the seed-0 labeler (1 thread): rows/s of predict_proba
at batch 1024 on the test rows as read from the CSV (strings, converted by the labeler), and rows/s
of votes() (the programs in the sandbox, the same code as the compile's apply stage).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from fetch import fetch

from alchemist_compiler.pipeline import Options, compile_task

EXAMPLES = {"census": "accuracy", "ecg": "macro_f1"}  # example -> its headline metric
VOTE_ROWS = 2000

SPEED = """
import csv, json, sys, time
sys.path.insert(0, sys.argv[1])
from {module} import Labeler
rows = list(csv.DictReader(open(sys.argv[2], encoding="utf-8")))
lab = Labeler(threads=1)
lab.predict_proba(rows[:1024])
started = time.perf_counter()
for i in range(0, len(rows), 1024):
    lab.predict_proba(rows[i:i + 1024])
predict = len(rows) / (time.perf_counter() - started)
sample = rows[:{vote_rows}]
lab.votes(sample[:10])
started = time.perf_counter()
lab.votes(sample)
votes = len(sample) / (time.perf_counter() - started)
lab.close()
print(json.dumps({{"predict": predict, "votes": votes}}))
"""


def compile_once(name: str, out: Path, seed: int) -> tuple[dict, float]:
    started = time.perf_counter()
    manifest = compile_task(ROOT / "examples" / name / "task.yaml", out,
                            Options(offline=True, seed=seed, show_progress=False))
    return manifest, time.perf_counter() - started


def test_metrics(manifest: dict, model: str) -> dict:
    return next(m for m in manifest["metrics"] if m["split"] == "test" and m["model"] == model)


def speed(out: Path, name: str, module: str) -> dict:
    code = SPEED.format(module=module, vote_rows=VOTE_ROWS)
    result = subprocess.run([sys.executable, "-I", "-c", code, str(out / "src"),
                             str(ROOT / "examples" / name / "data" / "test.csv")],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def mean_std(values: list[float]) -> str:
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def recall_text(manifest: dict, metrics: dict) -> str:
    return ", ".join(f"{c} {r:.3f}" for c, r in zip(manifest["classes"], metrics["recall"])
                     if r is not None)


def main(seeds: int = 1) -> str:
    quality = [("| example | metric (test) | label model | distilled | per-class recall "
                "(distilled, seed 0) | programs kept | compile | wheel |"),
               "|---|---|---|---|---|---|---|---|"]
    speeds = [("| labeler (1 thread) | predict_proba rows/s (batch 1024, from CSV rows) | "
               "votes() rows/s (programs in the sandbox) |"), "|---|---|---|"]
    with tempfile.TemporaryDirectory() as scratch:
        for name, metric in EXAMPLES.items():
            fetch(name)
            runs = [compile_once(name, Path(scratch) / f"{name}-{seed}", seed) for seed in range(seeds)]
            manifests = [m for m, _ in runs]
            first, out = manifests[0], Path(scratch) / f"{name}-0"
            label_model = [test_metrics(m, "label model")[metric] for m in manifests]
            distilled = [test_metrics(m, "distilled")[metric] for m in manifests]
            wheel = next((out / "dist").glob("*.whl")).stat().st_size / 2**20
            quality.append(
                f"| {name} | {metric.replace('_', ' ')} | {mean_std(label_model)} | "
                f"{mean_std(distilled)} | {recall_text(first, test_metrics(first, 'distilled'))} | "
                f"{len(first['programs'])} | {statistics.mean(t for _, t in runs):.1f} s | "
                f"{wheel:.2f} MB |")
            rates = speed(out, name, first["import_name"])
            speeds.append(f"| {name} | {rates['predict']:,.0f} | {rates['votes']:,.0f} |")
    return "\n".join(quality) + "\n\n" + "\n".join(speeds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    print(main(parser.parse_args().seeds))
