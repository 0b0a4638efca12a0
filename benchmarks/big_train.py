"""Peak memory of a compile over a train file larger than it should hold in memory.

youtube's task over a generated jsonl train file of about --gb GB: youtube train comments, each
repeated to about --row-bytes bytes and made unique by a row number (valid and test are youtube's
own). The programs are three small hand-written keyword programs (PROGRAMS; programs.count 0), so
that the time goes to moving the data rather than to the programs: this measures the data path's
memory, not labeling speed (see the Dask section for that). Each compile runs in a fresh
interpreter; the table gives its peak resident memory (ru_maxrss of the compile process; the
program processes are separate and bounded by their own limits) and the compile's stage times
(from --json).

    python benchmarks/big_train.py --gb 5 0.5 [--row-bytes 5000] [--distill-rows 20000] [--chunk-rows 100000]

Each size is compiled with train read in chunks of --chunk-rows (spooled to disk when it has
more); the smallest is also compiled in memory (chunk_rows above its row count), for comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fetch import fetch
from variants import variant_task

PROGRAMS = {
    "links.py": 'def label(x):\n    return 1 if "http" in x else -1\n',
    "subscribe.py": 'def label(x):\n    return 1 if "subscribe" in x.lower() else -1\n',
    "song.py": 'def label(x):\n    return 0 if "song" in x.lower() else -1\n',
}

COMPILE = """
import json, resource, sys
from alchemist_compiler.pipeline import Options, compile_task
compile_task(sys.argv[1], sys.argv[2], Options(offline=True, show_progress=False,
                                               summary_path=sys.argv[3]))
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def write_train(path: Path, gigabytes: float, row_bytes: int) -> int:
    """A jsonl file of about `gigabytes` GB of padded, numbered youtube comments; its rows."""
    lines = (ROOT / "examples/youtube/data/train.jsonl").read_text("utf-8").splitlines()
    comments = cycle(json.loads(line)["text"] for line in lines)
    target, written, rows = gigabytes * 1e9, 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            text = next(comments)
            line = json.dumps({"text": f"{(text + ' ') * max(1, row_bytes // (len(text) + 1))}#{rows}"}) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            rows += 1
    return rows


def compile_once(train: Path, rows: int, chunk_rows: int, distill_rows: int, scratch: Path) -> dict:
    folder = scratch / f"task-{chunk_rows}"
    folder.mkdir()
    for name, source in PROGRAMS.items():
        (folder / name).write_text(source, encoding="utf-8")
    task = variant_task("youtube", folder, data={"chunk_rows": chunk_rows},
                        distill={"max_rows": distill_rows},
                        programs={"count": 0, "include": list(PROGRAMS), "min_coverage": 0.0,
                                  "repair_rounds": 0})
    text = task.read_text().replace(str(ROOT / "examples/youtube/data/train.jsonl"), str(train))
    task.write_text(text)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", COMPILE, str(task), str(folder / "out"),
                             str(folder / "summary.json")], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    summary = json.loads((folder / "summary.json").read_text())
    return {"rows": rows, "chunk_rows": chunk_rows, "seconds": time.perf_counter() - started,
            "peak_mb": int(result.stdout.strip().splitlines()[-1]) / 1024, "timings": summary["timings_s"]}


def table(results: list[dict]) -> list[str]:
    lines = ["| train file | rows | read | compile | peak RSS (compile process) | apply | distill |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        timings = r["timings"]
        mode = "in memory" if r["chunk_rows"] >= r["rows"] else f"chunks of {r['chunk_rows']:,} (spooled)"
        distill = timings.get("training", 0) + timings.get("export", 0)
        lines.append(f"| {r['gb']:.2f} GB | {r['rows']:,} | {mode} | {r['seconds']:.0f} s | "
                     f"{r['peak_mb']:,.0f} MB | {timings.get('apply', 0):.0f} s | {distill:.0f} s |")
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="+", default=[0.5, 5.0])
    parser.add_argument("--row-bytes", type=int, default=5000)
    parser.add_argument("--distill-rows", type=int, default=20000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    fetch("youtube")
    results = []
    with tempfile.TemporaryDirectory(prefix="alchemist-big-") as scratch:
        scratch = Path(scratch)
        for gigabytes in sorted(args.gb):
            size_dir = scratch / f"{gigabytes}"
            size_dir.mkdir()
            train = size_dir / "train.jsonl"
            rows = write_train(train, gigabytes, args.row_bytes)
            runs = [args.chunk_rows] + ([rows + 1] if gigabytes == min(args.gb) else [])
            for chunk_rows in runs:
                results.append({"gb": train.stat().st_size / 1e9,
                                **compile_once(train, rows, chunk_rows, args.distill_rows, size_dir)})
            train.unlink()
    return (f"{len(PROGRAMS)} keyword programs; rows of ~{args.row_bytes:,} bytes; distill.max_rows "
            f"{args.distill_rows:,}\n\n" + "\n".join(table(results)))


if __name__ == "__main__":
    print(main())
