"""Stage 7: a drop reason says what the keep rule needed."""

from __future__ import annotations

import pytest

from alchemist_compiler.analysis import MIN_VALID_VOTES, PRECISE_ACCURACY, ProgramStats, keep_reason


def stats(coverage: float, valid_accuracy: float | None, valid_votes: int) -> ProgramStats:
    return ProgramStats(name="p", coverage=coverage, overlap=0.0, conflict=0.0, polarity=[1], exceptions=0,
                        timeouts=0, invalid=0, valid_accuracy=valid_accuracy, valid_votes=valid_votes)


NEEDS = f"a narrow program needs at least {MIN_VALID_VOTES} valid votes at accuracy >= {PRECISE_ACCURACY}"


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        (stats(0.044, 1.0, 3), f"coverage 0.044 < min_coverage 0.1, and 3 of 3 correct on valid: {NEEDS}"),
        (stats(0.05, 0.6, 10), f"coverage 0.050 < min_coverage 0.1, and 6 of 10 correct on valid: {NEEDS}"),
        (stats(0.05, None, 0), f"coverage 0.050 < min_coverage 0.1, and no votes on valid: {NEEDS}"),
        (stats(0.05, 1.0, MIN_VALID_VOTES), None),  # narrow but precise: kept
    ],
)
def test_low_coverage_reason_says_what_the_rule_needs(program, reason):
    assert keep_reason(program, min_coverage=0.1, k=2) == reason
