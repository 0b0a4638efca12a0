"""How every `auto` choice picks: the best candidate on valid, if it beats the default beyond chance.

`label_model: auto` and `distill.features: auto` score each candidate row by row on the same
labeled valid rows (never test; without the rows shown to the LLM). The most accurate candidate
(ties to the earlier) is kept only when McNemar's exact test, on the rows where it and the default
differ in correctness, finds its gain significant at the 5% level; otherwise the default stays. A
gain of a few valid rows is a tie, and ties go to the default: the cheaper or the usual choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

ALPHA = 0.05  # McNemar's exact test, two-sided
RULE = f"the best on valid if it beats the default at McNemar p < {ALPHA}, else the default"


@dataclass(frozen=True)
class Selection:
    """The kept candidate, every candidate's valid accuracy, and the test of the best one."""

    chosen: str
    default: str
    best: str
    valid_accuracy: dict[str, float]
    p_value: float | None  # McNemar's exact p of best against default; None when best is default

    def record(self, by: str) -> dict:
        """The manifest's record: how the choice was made and what each candidate scored."""
        test = {} if self.p_value is None else {"best": self.best, "p_value": round(self.p_value, 6)}
        return {"by": by, "rule": RULE, "default": self.default, **test,
                "valid_accuracy": self.valid_accuracy}


def mcnemar_p(candidate: np.ndarray, default: np.ndarray) -> float:
    """Exact two-sided McNemar p-value of two classifiers' per-row correctness on the same rows."""
    wins = int(np.sum(candidate & ~default))
    losses = int(np.sum(~candidate & default))
    return 1.0 if wins + losses == 0 else float(binomtest(wins, wins + losses, 0.5).pvalue)


def select(correct: Mapping[str, np.ndarray], default: str) -> Selection:
    """`correct`: candidate -> boolean per-row correctness on the same valid rows, in preference
    order. The best (ties to the earlier), if McNemar's test says it beats `default`; else default."""
    accuracy = {name: round(float(np.mean(rows)), 6) for name, rows in correct.items()}
    best = max(accuracy, key=accuracy.__getitem__)
    if best == default:
        return Selection(default, default, best, accuracy, None)
    p = mcnemar_p(np.asarray(correct[best], bool), np.asarray(correct[default], bool))
    return Selection(best if p < ALPHA else default, default, best, accuracy, p)


def describe(record: dict, chosen: str) -> str:
    """A `record()` in words: why `chosen` was kept, then every candidate's valid accuracy."""
    scores = record.get("valid_accuracy")
    if not scores:
        return record["by"]
    default, best = record["default"], record.get("best", record["default"])
    listed = ", ".join(f"{name} {acc:.3f}" for name, acc in scores.items())
    if "p_value" not in record:
        why = f"{default} is the most accurate"
    else:
        test = (f"{best} {scores[best]:.3f} against {default} {scores[default]:.3f}, "
                f"McNemar p={record['p_value']:.3f}")
        why = (f"{best} beats the default {default} beyond chance ({test})" if chosen == best
               else f"{best}'s gain over the default {default} is within chance ({test})")
    return f"{why}; {record['by']}: {listed}"
