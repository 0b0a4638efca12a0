"""Classification metrics for the compile report (valid and test splits)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba
from alchemist_runtime.labeler import combined_proba

from .artifacts import OMITTED_WHEN_NONE
from .review.evidence import confusion_matrix


@dataclass(frozen=True)
class Metrics:
    """One model on one split. The group fields are set only where the data has a `group` column."""

    split: str
    model: str  # "label model" or "distilled"
    rows: int
    coverage: float
    accuracy: float
    accuracy_covered: float | None
    macro_f1: float
    f1_positive: float
    confusion: list[list[int]]
    recall: list[float | None]
    group_accuracy: dict[str, float] | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    worst_group: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    worst_group_accuracy: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    group_gap: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)


def f1_per_class(predicted: np.ndarray, gold: np.ndarray, k: int) -> np.ndarray:
    scores = np.zeros(k)
    for c in range(k):
        tp = np.sum((predicted == c) & (gold == c))
        denominator = np.sum(predicted == c) + np.sum(gold == c)
        scores[c] = 2 * tp / denominator if denominator else 0.0
    return scores


def recall_per_class(predicted: np.ndarray, gold: np.ndarray, k: int) -> list[float | None]:
    """Per class, the share of its gold rows predicted as it (None: no gold row of it)."""
    return [round(float((predicted[gold == c] == c).mean()), 6) if (gold == c).any() else None
            for c in range(k)]


def evaluate(split: str, model: str, proba: np.ndarray, gold: np.ndarray, covered: np.ndarray) -> Metrics:
    """Accuracy, macro F1, (binary) F1 of class 1 and per-class recall over all rows; coverage;
    accuracy on the covered rows alone (`accuracy_covered`, None when no row is covered).

    Macro F1 averages the classes that occur in gold or in the predictions (scikit-learn's
    default labels): a class absent from both does not count as an F1 of 0. Uncovered rows still
    get the model's prediction (for a label model: its class prior, the same class for all of
    them), so `accuracy` mixes how good the votes are with how many rows they reach.
    """
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)
    f1 = f1_per_class(predicted, gold, k)
    present = np.isin(np.arange(k), np.concatenate([gold, predicted]))
    return Metrics(
        split=split,
        model=model,
        rows=int(len(gold)),
        coverage=round(float(covered.mean()), 6),
        accuracy=round(float((predicted == gold).mean()), 6),
        accuracy_covered=round(float((predicted == gold)[covered].mean()), 6) if covered.any() else None,
        macro_f1=round(float(f1[present].mean()) if present.any() else 0.0, 6),
        f1_positive=round(float(f1[1]), 6),
        confusion=confusion_matrix(predicted, gold, k),
        recall=recall_per_class(predicted, gold, k),
    )


def with_groups(metrics: Metrics, proba: np.ndarray, gold: np.ndarray, groups: list[str] | None) -> Metrics:
    """With a `group` column (Waterbirds-style): accuracy per group, the worst group and its gap
    to the average accuracy; unchanged without one."""
    if groups is None:
        return metrics
    correct = proba.argmax(axis=1) == gold
    names = np.asarray(groups, dtype=object)
    per_group = {g: round(float(correct[names == g].mean()), 6) for g in sorted(set(groups))}
    worst = min(per_group, key=lambda g: (per_group[g], g))
    return replace(metrics, group_accuracy=per_group, worst_group=worst,
                   worst_group_accuracy=per_group[worst],
                   group_gap=round(float(correct.mean()) - per_group[worst], 6))


def evaluate_splits(splits: dict, votes: dict, kept: list[int], label_model: dict, distilled) -> list[Metrics]:
    """The label model's, the distilled model's and their combination's (the labeler's
    `predict(..., programs=True)`) metrics on valid and test (`distilled`: a distill.Distilled;
    `votes`: each split's vote matrix, of which `kept` are the label model's columns)."""
    metrics = []
    for name in ("valid", "test"):
        if name not in splits:
            continue
        split, L = splits[name], votes[name][:, kept]
        posterior = predict_proba(label_model, L)
        proba = distilled.proba(split.labeler_inputs, label_model["cardinality"])
        every_row = np.ones(len(split), bool)
        for model, proba, voted in (
            ("label model", posterior, covered(L)),
            ("distilled", proba, every_row),
            ("combined", combined_proba(proba, posterior, L), every_row),
        ):
            metrics.append(with_groups(evaluate(name, model, proba, split.labels, voted),
                                       proba, split.labels, split.groups))
    return metrics
