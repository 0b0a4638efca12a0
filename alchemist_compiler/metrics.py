"""Classification metrics for the compile report (valid and test splits)."""

from __future__ import annotations

import numpy as np


def f1_per_class(predicted: np.ndarray, gold: np.ndarray, k: int) -> np.ndarray:
    scores = np.zeros(k)
    for c in range(k):
        tp = np.sum((predicted == c) & (gold == c))
        denominator = np.sum(predicted == c) + np.sum(gold == c)
        scores[c] = 2 * tp / denominator if denominator else 0.0
    return scores


def evaluate(split: str, model: str, proba: np.ndarray, gold: np.ndarray, covered: np.ndarray) -> dict:
    """Accuracy, macro F1 and (binary) F1 of class 1 over all rows; coverage of the rows.

    Uncovered rows still get the model's prediction (for a label model: its class prior).
    """
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)
    f1 = f1_per_class(predicted, gold, k)
    return {
        "split": split,
        "model": model,
        "rows": int(len(gold)),
        "coverage": round(float(covered.mean()), 6),
        "accuracy": round(float((predicted == gold).mean()), 6),
        "macro_f1": round(float(f1.mean()), 6),
        "f1_positive": round(float(f1[1]), 6),
    }
