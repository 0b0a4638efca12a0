"""How every `auto` choice picks: the best candidate on valid, if it beats the default beyond chance.

`label_model: auto` and `distill.features: auto` score each candidate row by row on the same
labeled valid rows (never test; without the rows shown to the LLM), by a criterion: a per-row score
and a paired test. The best candidate (ties to the earlier) is kept only when the test, on its
per-row scores against the default's, finds its gain significant; otherwise the default stays. A
gain the valid rows cannot tell from chance is a tie, and ties go to the default: the cheaper or
the usual choice.

The test's level is 5% split over the candidates that could replace the default (Bonferroni:
0.05 / 4 for five label models, 0.05 / 2 for three featurizers). The candidate tested is the best
of several on the same rows; tested at 0.05, it would replace an equally good default up to
(candidates - 1) x 5% of the time, not 5%.

Criteria (CRITERIA, one entry each):
- brier: per-row Brier score (squared error of the probabilities against the one-hot label, a
  proper scoring rule; lower is better), a paired t-test on the per-row differences. Both choices
  use it (alchemist_compiler.choices), on the distilled model's probabilities: the labeler's output.
  The test uses every row's confidence, not only the rows where the argmax differs (as McNemar's
  test on accuracy would), so valid tells candidates apart sooner.
Every record also gives each candidate's valid accuracy, for people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import ttest_rel

ALPHA = 0.05  # the family-wise level; every test is two-sided


def level(candidates: int) -> float:
    """The p-value below which the best of `candidates` (the default among them) replaces the
    default: ALPHA over the candidates that could (Bonferroni)."""
    return ALPHA / max(1, candidates - 1)


def paired_t_p(candidate: np.ndarray, default: np.ndarray) -> float:
    """Two-sided paired t-test p-value of two per-row scores on the same rows (1.0 when they agree)."""
    differences = np.asarray(candidate, np.float64) - np.asarray(default, np.float64)
    if len(differences) < 2 or not differences.any():
        return 1.0
    if np.ptp(differences) == 0:  # every row moves by the same amount: t is infinite
        return 0.0
    return float(ttest_rel(candidate, default).pvalue)


def correct_rows(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: the argmax (ties to the lowest class) is the label."""
    return probabilities.argmax(axis=1) == labels


def brier_rows(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: the squared distance of the probabilities from the one-hot label (0 to 2)."""
    onehot = np.eye(probabilities.shape[1])[labels]
    return np.square(probabilities - onehot).sum(axis=1)


@dataclass(frozen=True)
class Criterion:
    """A per-row score of (probabilities, labels), which way is better, and a paired test."""

    name: str  # as the record and the words say it
    higher_is_better: bool
    rows: Callable[[np.ndarray, np.ndarray], np.ndarray]
    test_name: str
    test: Callable[[np.ndarray, np.ndarray], float]

    def rule(self, candidates: int) -> str:
        return (f"the best {self.name} on valid if it beats the default at {self.test_name} "
                f"p < {level(candidates):.4g} ({ALPHA} / {candidates - 1}: Bonferroni over the "
                "candidates besides the default), else the default")

    def best(self, scores: Mapping[str, float]) -> str:
        """The best-scoring candidate, ties to the earlier."""
        sign = 1 if self.higher_is_better else -1
        return max(scores, key=lambda name: sign * scores[name])


BRIER = Criterion("Brier score", False, brier_rows, "paired t-test", paired_t_p)
CRITERIA = {"brier": BRIER}
CRITERION = "brier"  # what both auto choices score by (label_model/auto.py, choices.py)


@dataclass(frozen=True)
class Selection:
    """The kept candidate, every candidate's valid scores, and the test of the best one."""

    chosen: str
    default: str
    best: str
    criterion: str  # a CRITERIA key
    valid_accuracy: dict[str, float]
    valid_scores: dict[str, float]  # by the criterion
    p_value: float | None  # the criterion's test of best against default; None when best is default

    def record(self, by: str) -> dict:
        """The manifest's record: how the choice was made and what each candidate scored."""
        test = {} if self.p_value is None else {"best": self.best, "p_value": round(self.p_value, 6),
                                                "level": round(level(len(self.valid_scores)), 6)}
        return {"by": by, "criterion": self.criterion,
                "rule": CRITERIA[self.criterion].rule(len(self.valid_scores)),
                "default": self.default, **test, "valid_accuracy": self.valid_accuracy,
                f"valid_{self.criterion}": self.valid_scores}


def select(probabilities: Mapping[str, np.ndarray], labels: np.ndarray, default: str,
           criterion: str = CRITERION) -> Selection:
    """`probabilities`: candidate -> (n, k) probabilities on the same labeled valid rows, in
    preference order. The best by `criterion`, if its test says it beats `default` at `level`;
    else default."""
    judge = CRITERIA[criterion]
    labels = np.asarray(labels)
    rows = {name: judge.rows(np.asarray(p), labels) for name, p in probabilities.items()}
    scores = {name: round(float(np.mean(r)), 6) for name, r in rows.items()}
    accuracy = {name: round(float(np.mean(correct_rows(np.asarray(p), labels))), 6)
                for name, p in probabilities.items()}
    best = judge.best(scores)
    if best == default:
        return Selection(default, default, best, criterion, accuracy, scores, None)
    p = judge.test(rows[best], rows[default])
    return Selection(best if p < level(len(scores)) else default, default, best, criterion,
                     accuracy, scores, p)


def describe(record: dict, chosen: str) -> str:
    """A `record()` in words: why `chosen` was kept, then every candidate's valid scores, then any
    candidate left out (a record's optional `skipped`: name -> why)."""
    accuracy = record.get("valid_accuracy")
    if not accuracy:
        return record["by"]
    judge = CRITERIA[record["criterion"]]
    scores = record[f"valid_{record['criterion']}"]
    default, best = record["default"], record.get("best", record["default"])
    listed = ", ".join(f"{name} {accuracy[name]:.3f} ({judge.name} {scores[name]:.3f})" for name in accuracy)
    if "p_value" not in record:
        why = f"{default} has the best {judge.name}"
    else:
        test = (f"{judge.name} {best} {scores[best]:.3f} against {default} {scores[default]:.3f}, "
                f"{judge.test_name} p={record['p_value']:.3f}, level {record['level']:.4g}")
        why = (f"{best} beats the default {default} beyond chance ({test})" if chosen == best
               else f"{best}'s gain over the default {default} is within chance ({test})")
    skipped = "".join(f"; {name} left out: {reason}" for name, reason in record.get("skipped", {}).items())
    return f"{why}; {record['by']}: {listed}{skipped}"
