"""Stage 7: per-program diagnostics and the rule that decides which programs are kept.

Kept: programs that vote on at least `min_coverage` of train rows, OR narrow programs that are
precise on valid (accuracy >= 0.9 on at least 5 valid votes): coverage alone would drop a rare but
reliable rule. Dropped: programs below chance accuracy on valid (when valid has >= 5 of their votes),
programs that never vote, and exact duplicates (identical train votes as an earlier program).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

PRECISE_ACCURACY = 0.9
MIN_VALID_VOTES = 5


@dataclass(frozen=True)
class ProgramStats:
    """One column of the vote matrix (a program or a precomputed weak label), and why it was
    dropped (None: kept)."""

    name: str
    coverage: float  # share of train rows with a vote
    overlap: float  # share of train rows where it votes and another column votes too
    conflict: float  # share of train rows where it votes and another column votes differently
    polarity: list[int]  # classes it ever votes for
    exceptions: int
    timeouts: int
    invalid: int
    valid_accuracy: float | None  # accuracy on valid rows where it votes
    valid_votes: int
    dropped: str | None = None

    @property
    def kept(self) -> bool:
        return self.dropped is None


def column_stats(L: np.ndarray, j: int) -> dict:
    """Coverage, overlap, conflict and polarity of column j of a vote matrix."""
    votes = L[:, j]
    voted = votes >= 0
    others = np.delete(L, j, axis=1)
    others_vote = (others >= 0).any(axis=1)
    disagree = ((others >= 0) & (others != votes[:, None])).any(axis=1)
    n = max(len(L), 1)
    return {
        "coverage": round(float(voted.sum() / n), 6),
        "overlap": round(float((voted & others_vote).sum() / n), 6),
        "conflict": round(float((voted & disagree).sum() / n), 6),
        "polarity": sorted(int(c) for c in np.unique(votes[voted])),
    }


def accuracy_where_voted(votes: np.ndarray, gold: np.ndarray) -> tuple[float | None, int]:
    voted = votes >= 0
    count = int(voted.sum())
    if count == 0:
        return None, 0
    return round(float((votes[voted] == gold[voted]).mean()), 6), count


def keep_reason(stats: ProgramStats, min_coverage: float, k: int) -> str | None:
    """None to keep the program, else why it is dropped."""
    if stats.coverage == 0:
        return "never votes on train"
    trusted = stats.valid_votes >= MIN_VALID_VOTES and stats.valid_accuracy is not None
    if trusted and stats.valid_accuracy < 1.0 / k:
        return f"valid accuracy {stats.valid_accuracy:.2f} is below chance ({1.0 / k:.2f})"
    if stats.coverage < min_coverage and not (trusted and stats.valid_accuracy >= PRECISE_ACCURACY):
        return f"coverage {stats.coverage:.3f} < min_coverage {min_coverage}, and {_valid_record(stats)}"
    return None


def _valid_record(stats: ProgramStats) -> str:
    """How the program did on valid, against what keeps a narrow program."""
    needs = f"a narrow program needs at least {MIN_VALID_VOTES} valid votes at accuracy >= {PRECISE_ACCURACY}"
    if stats.valid_accuracy is None:
        return f"no votes on valid: {needs}"
    correct = round(stats.valid_accuracy * stats.valid_votes)
    return f"{correct} of {stats.valid_votes} correct on valid: {needs}"


def duplicate_of(L: np.ndarray, j: int) -> int | None:
    """The first earlier column with identical votes, if any."""
    return next((i for i in range(j) if np.array_equal(L[:, i], L[:, j])), None)


def diagnose(
    names: list[str],
    L_train: np.ndarray,
    L_valid: np.ndarray | None,
    valid_labels: np.ndarray | None,
    failures: dict[str, np.ndarray],
    load_errors: list[str | None],
    *,
    min_coverage: float,
    k: int,
    stopped: list[str | None] | None = None,
) -> list[ProgramStats]:
    """Stats of every column, with `dropped`: None for kept columns, else the reason.

    `failures` holds exception/timeout/invalid counts of the program columns (the first ones);
    the remaining columns are precomputed weak labels.
    """
    rows, kept = [], []
    for j, name in enumerate(names):
        is_program = j < len(load_errors)
        accuracy, votes = accuracy_where_voted(L_valid[:, j], valid_labels) if L_valid is not None else (None, 0)
        stats = ProgramStats(
            name=name,
            **column_stats(L_train, j),
            **{kind: int(counts[j]) if is_program else 0 for kind, counts in failures.items()},
            valid_accuracy=accuracy,
            valid_votes=votes,
        )
        reason = keep_reason(stats, min_coverage, k)
        duplicate = duplicate_of(L_train, j)
        if reason is None and duplicate is not None and duplicate in kept:
            reason = f"same train votes as {names[duplicate]}"
        if is_program and stopped and stopped[j]:
            reason = f"stopped: {stopped[j]}"
        if is_program and load_errors[j]:
            reason = f"failed to load: {load_errors[j]}"
        if reason is None:
            kept.append(j)
        rows.append(replace(stats, dropped=reason))
    return rows
