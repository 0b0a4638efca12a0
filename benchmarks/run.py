"""`make bench`: run every benchmark and write BENCHMARKS.md (tables, and how to rerun each).

    python benchmarks/run.py [--quick]      # --quick: 1 seed, youtube + sms only, 100k-row scale test
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import big_train
import dask_scale
import features
import human_vs_generated
import images
import label_models
import labeler_speed
import modalities
import sandbox

import examples

ROOT = Path(__file__).resolve().parent.parent

INTRO = """# Benchmarks

Written by `make bench` (`python benchmarks/run.py`) on {machine}. Each section says how to rerun it
alone. Recorded programs (`examples/*/alchemist.lock`) were written by hand, without API access, in the
style of an LLM answering the exact prompts the compiler renders (the paper used GPT-3.5); valid rows
chose programs, class balance and epochs; test rows chose nothing. Their token counts, and so every
compile cost below, are estimates from characters (about 4 per token), not measured API usage; the
zero-shot costs are estimates too. Nothing here is asserted by tests.
"""


def sections(quick: bool) -> list[tuple[str, str, callable]]:
    seeds, names = (1, ["youtube", "sms"]) if quick else (5, None)
    scale, gb = (100_000, ["0.2"]) if quick else (1_000_000, ["0.5", "5"])
    return [
        ("Quality against the paper (Table 1 protocol)",
         f"python benchmarks/examples.py --seeds {seeds}", lambda: examples.main(names, seeds)),
        ("Human vs generated programs (Table 4)",
         "python benchmarks/human_vs_generated.py", human_vs_generated.main),
        ("Label models", "python benchmarks/label_models.py" + (" --quick" if quick else ""),
         lambda: label_models.main(["--quick"] if quick else [])),
        ("Text features: hashing vs MiniLM", "python benchmarks/features.py", features.main),
        ("Applying programs: sandbox vs in-process vs snorkel", "python benchmarks/sandbox.py",
         sandbox.main),
        ("The emitted labeler", "python benchmarks/labeler_speed.py", labeler_speed.main),
        ("Tabular and time series: census and ECG",
         f"python benchmarks/modalities.py --seeds {seeds}", lambda: modalities.main(seeds)),
        ("Images: CLIP in the labeler", "python benchmarks/images.py", images.main),
        ("Past one machine (Dask)", f"python benchmarks/dask_scale.py --rows {scale}",
         lambda: dask_scale.main(["--rows", str(scale)])),
        ("A train split larger than memory",
         f"python benchmarks/big_train.py --gb {' '.join(gb)} --chunk-rows 50000",
         lambda: big_train.main(["--gb", *gb, "--chunk-rows", "50000"])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, no GPU"
    parts = [INTRO.format(machine=machine)]
    for title, command, run in sections(args.quick):
        started = time.perf_counter()
        print(f"== {title} ...", flush=True)
        table = run()
        parts.append(f"## {title}\n\nRerun: `{command}` ({time.perf_counter() - started:.0f} s)\n\n{table}\n")
    args.output.write_text("\n".join(parts))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
