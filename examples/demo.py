"""`make demo`: compile an example offline, install its wheel air-gapped, label test rows.

1. `alchemist compile examples/<name>/task.yaml -o examples/<name>/labeler --offline`
2. a fresh venv gets numpy + onnxruntime + the labeler with `pip install --no-index` from a local
   wheelhouse (filled once with `pip download`; copy it to an air-gapped machine the same way)
3. that venv, which has no torch, snorkel or alchemist, prints predictions and test accuracy
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEELHOUSE = HERE / ".wheelhouse"
RUNTIME_PINS = ("numpy==2.4.6", "onnxruntime==1.32.0")

EVALUATE = """
import json, sys
from {module} import Labeler
labeler = Labeler()
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
texts = [r["text"] for r in rows]
predicted = labeler.predict(texts)
for text, label in list(zip(texts, predicted))[:5]:
    print(f"  {{label:>5}}  {{text[:70]!r}}")
gold = [labeler.classes[r["label"]] for r in rows]
accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
print(f"test accuracy of the installed labeler: {{accuracy:.3f}} on {{len(gold)}} rows")
example = "Check out my new channel http://bit.ly/xyz and subscribe!"
print("explain", repr(example), "->", json.dumps(labeler.explain(example), indent=1))
"""


def run(*command: str | Path) -> None:
    shown = ["<script>" if "\n" in str(c) else str(c) for c in command]
    print("$", " ".join(shown), flush=True)
    subprocess.run([str(c) for c in command], check=True)


def main(name: str) -> None:
    example = HERE / name
    labeler = example / "labeler"
    started = time.perf_counter()
    run(Path(sys.executable).parent / "alchemist", "compile", example / "task.yaml", "-o", labeler, "--offline")
    print(f"compiled in {time.perf_counter() - started:.1f} s")
    if not all(any(WHEELHOUSE.glob(f"{pin.split('==')[0]}-*.whl")) for pin in RUNTIME_PINS):
        run(sys.executable, "-m", "pip", "download", "--quiet", "-d", WHEELHOUSE, *RUNTIME_PINS)
    wheel = next((labeler / "dist").glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="alchemist-demo-") as venv:
        run(sys.executable, "-m", "venv", venv)
        python = Path(venv) / "bin" / "python"
        run(python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", WHEELHOUSE, wheel)
        module = next(p.name for p in (labeler / "src").iterdir())
        run(python, "-c", EVALUATE.format(module=module), example / "data" / "test.jsonl")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "youtube")
