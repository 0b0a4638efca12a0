"""Speed of an emitted labeler: throughput, latency, cold start, wheel size (youtube example).

    python benchmarks/labeler_speed.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from fetch import fetch  # noqa: E402

from alchemist_compiler.pipeline import Options, compile_task  # noqa: E402

MEASURE = """
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from {module} import Labeler
texts = json.load(open(sys.argv[2]))
lab = Labeler(threads=1)
lab.predict_proba(texts[:1024])
started = time.perf_counter()
for i in range(0, len(texts), 1024):
    lab.predict_proba(texts[i:i + 1024])
batch = len(texts) / (time.perf_counter() - started)
latencies = []
for text in texts[:2000]:
    t = time.perf_counter(); lab.predict_proba([text]); latencies.append(time.perf_counter() - t)
latencies.sort()
print(json.dumps({{"rows_per_s_batch_1024": batch, "rows_per_s_batch_1": 1 / statistics.mean(latencies),
                  "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}}))
"""

#: Peak RSS growth while predicting one huge string (inputs are cut at the manifest's max_chars):
#: the kernel's high-water mark is reset first (Linux: clear_refs 5).
HUGE = """
import re, sys
sys.path.insert(0, sys.argv[1])
from {module} import Labeler
def kb(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))
lab = Labeler(threads=1)
lab.predict(["warm up"])
text = "spam and ham " * (10 * 2**20 // 13)
open("/proc/self/clear_refs", "w").write("5")
base = kb("VmRSS")
lab.predict([text])
print((kb("VmHWM") - base) / 1024)
"""
COLD = "import sys; sys.path.insert(0, sys.argv[1]); from {module} import Labeler; Labeler().predict(['hello'])"


def cold_start(site: Path, module: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", COLD.format(module=module), str(site)], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> str:
    fetch("youtube")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "labeler"
        manifest = compile_task(ROOT / "examples/youtube/task.yaml", out, Options(offline=True, show_progress=False))
        module, site = manifest["import_name"], out / "src"
        rows = [json.loads(line) for line in (ROOT / "examples/youtube/data/train.jsonl").read_text().splitlines()]
        texts = [r["text"] for r in rows] * 7  # ~11k short comments
        (Path(scratch) / "texts.json").write_text(json.dumps(texts))
        measured = json.loads(subprocess.run(
            [sys.executable, "-I", "-c", MEASURE.format(module=module), str(site), str(Path(scratch) / "texts.json")],
            check=True, capture_output=True, text=True).stdout)
        cold = cold_start(site, module)
        huge_mb = float(subprocess.run([sys.executable, "-I", "-c", HUGE.format(module=module),
                                        str(site)], check=True, capture_output=True,
                                       text=True).stdout.split()[-1])
        wheel = next((out / "dist").glob("*.whl")).stat().st_size / 1e6
    return "\n".join([
        "| labeler (youtube, 1 thread) | value |",
        "|---|---|",
        f"| rows/s at batch 1024 | {measured['rows_per_s_batch_1024']:,.0f} |",
        f"| rows/s at batch 1 | {measured['rows_per_s_batch_1']:,.0f} |",
        f"| latency p50 / p99 at batch 1 | {measured['p50_ms']:.2f} ms / {measured['p99_ms']:.2f} ms |",
        f"| cold start (new process: import + first prediction) | {cold:.2f} s |",
        f"| peak memory growth predicting one 10 MB string | {huge_mb:.0f} MB |",
        f"| wheel size | {wheel:.2f} MB |",
    ])


if __name__ == "__main__":
    print(main())
