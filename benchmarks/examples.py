"""Quality, cost and compile time of the bundled examples, compiled from their lock files.

The paper's protocol: 10 programs, label model, 2 x 32 MLP; several seeds, mean and std. Metric as
the paper: accuracy, F1 of the spam class for sms. Recorded programs were written without API
access in the style of an LLM (the paper used GPT-3.5); test rows chose nothing. "combined" is the
labeler's `predict(..., programs=True)`: the distilled model averaged with the label model where a
program votes.

    python benchmarks/examples.py [--seeds 5] [youtube sms ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from fetch import fetch  # noqa: E402
from variants import test_metric  # noqa: E402

from alchemist_compiler.pipeline import Options, compile_task  # noqa: E402

#: The paper's Table 1 (GPT-3.5 programs): (Alchemist, zero-shot per-row labels, metric).
PAPER = {
    "youtube": (0.891, 0.871, "accuracy"),
    "sms": (0.900, 0.907, "f1_positive"),
    "yelp": (0.575, 0.845, "accuracy"),
    "imdb": (0.662, 0.737, "accuracy"),
    "medical_abstracts": (0.346, 0.311, "accuracy"),
    "financial_phrasebank": (0.660, 0.641, "accuracy"),
}


#: What our copy of each dataset is, beside the paper's figures (see examples/README.md).
VARIANT = {
    "youtube": "WRENCH splits",
    "sms": "WRENCH splits",
    "yelp": "1,000 UCI sentences, not Yelp Review Polarity",
    "imdb": "seeded subsample, WRENCH sizes",
    "medical_abstracts": "re-split of the 2,888-row upstream test set",
    "financial_phrasebank": "all-agree subset, seeded split",
}


def compile_once(name: str, seed: int, out: Path) -> tuple[dict, float, int]:
    started = time.perf_counter()
    manifest = compile_task(ROOT / "examples" / name / "task.yaml", out,
                            Options(offline=True, seed=seed, show_progress=False))
    seconds = time.perf_counter() - started
    wheel = next((out / "dist").glob("*.whl")).stat().st_size
    return manifest, seconds, wheel


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def row(name: str, seeds: int) -> str:
    fetch(name)
    paper_ours, paper_zero_shot, key = PAPER[name]
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(seeds):
            runs.append(compile_once(name, seed, Path(scratch) / f"seed{seed}"))
    manifests = [m for m, _, _ in runs]
    cost = manifests[0]["cost"]
    return (
        f"| {name} ({VARIANT[name]}) | {key.replace('f1_positive', 'F1 (spam)')} "
        f"| {mean_std([test_metric(m, 'label model', key) for m in manifests])} "
        f"| {mean_std([test_metric(m, 'distilled', key) for m in manifests])} "
        f"| {mean_std([test_metric(m, 'combined', key) for m in manifests])} "
        f"| {paper_ours:.3f} | {paper_zero_shot:.3f} "
        f"| {test_metric(manifests[0], 'label model', 'coverage'):.3f} | {len(manifests[0]['programs'])} "
        f"| ${cost['cost_usd']:.4f} | ${cost['zero_shot']['cost_usd']:.4f} "
        f"| {statistics.mean(s for _, s, _ in runs):.1f} s | {runs[0][2] / 1e6:.2f} MB |"
    )


HEADER = (
    "| dataset (our variant) | metric | ours: label model | ours: distilled | ours: combined "
    "| paper: Alchemist | paper: zero-shot | test coverage | programs kept | compile cost (est.) "
    "| zero-shot cost (est.) | compile time | wheel |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(names: list[str] | None = None, seeds: int = 5) -> str:
    available = [n for n in PAPER if (ROOT / "examples" / n / "alchemist.lock").is_file()]
    names = names or available
    lines = [HEADER] + [row(name, seeds) for name in names]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(main(args.names, args.seeds))
