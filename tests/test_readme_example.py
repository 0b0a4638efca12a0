"""README.md's worked example is what a real run prints (examples/readme_example.py)."""

from __future__ import annotations

import sys

from conftest import EXAMPLES, example_split

sys.path.insert(0, str(EXAMPLES))
import readme_example


def test_stable_masks_timings_only():
    run = ("LLM requests: 2.8 s\n10 programs labeled train in 0.7 s of program time (slowest: a, 0.2 s)\n"
           "label model: snorkel, train coverage 0.624\n")
    again = run.replace("2.8", "12.0").replace("0.7 s", "1.1 s").replace("slowest: a", "slowest: b")
    assert readme_example.stable(run) == readme_example.stable(again) == [
        "10 programs labeled train in N s of program time (slowest: ...)",
        "label model: snorkel, train coverage 0.624"]
    assert readme_example.stable(run) != readme_example.stable(run.replace("0.624", "0.625"))


def test_the_readme_block_is_what_a_fresh_run_prints(tmp_path):
    example_split("youtube", "train")  # fetch the data
    fresh = readme_example.generate(tmp_path)
    block = readme_example.current_block(readme_example.README.read_text(encoding="utf-8"))
    assert readme_example.stable(block) == readme_example.stable(fresh), (
        "README.md's worked example is stale: run python examples/readme_example.py")
