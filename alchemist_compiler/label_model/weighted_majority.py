"""Weighted majority vote: each column's vote counts with the log-odds of its accuracy.

Under the one-coin model (a column is right with probability a_j, else votes uniformly for one of
the k - 1 other classes) the posterior with a uniform prior is softmax_y(sum_j w_j [L_ij = y]) with
w_j = log((k - 1) a_j / (1 - a_j)); the runtime computes exactly that.

Accuracy a_j:
- agreement (always): how often column j agrees with the majority vote of the other columns, on
  the fitting-sample rows where j votes and the others have a unique winner, add-one smoothed:
  (agree + 1) / (compared + 2);
- with a labeled valid split: (correct + 2 * agreement) / (voted + 2) on valid, i.e. add-one
  smoothing whose prior mean is the agreement estimate, so a column that rarely votes on valid
  keeps its train-agreement accuracy instead of falling to chance.
Weights are clipped at 0: a column below chance is ignored, never inverted.
"""

from __future__ import annotations

import numpy as np

from .common import FitInputs, fit_rows, header, vote_counts


def fit(inputs: FitInputs) -> dict:
    accuracy = agreement_accuracy(fit_rows(inputs.L, inputs.seed), inputs.k)
    source = "agreement"
    if inputs.has_valid:
        correct, voted = valid_hits(inputs.L_valid, np.asarray(inputs.valid_labels))
        accuracy = (correct + 2.0 * accuracy) / (voted + 2.0)
        source = "valid"
    return header(
        "weighted_majority",
        inputs,
        accuracy_source=source,
        accuracies=[float(a) for a in accuracy],
        weights=[float(w) for w in log_odds_weights(accuracy, inputs.k)],
    )


def log_odds_weights(accuracy: np.ndarray, k: int) -> np.ndarray:
    return np.maximum(np.log((k - 1) * accuracy / (1.0 - accuracy)), 0.0)


def agreement_accuracy(L: np.ndarray, k: int) -> np.ndarray:
    """(m,) smoothed agreement of each column with the other columns' majority vote."""
    counts = vote_counts(L, k)
    accuracy = np.empty(L.shape[1])
    for j in range(L.shape[1]):
        rows = np.flatnonzero(L[:, j] >= 0)
        votes = L[rows, j].astype(np.intp)
        others = counts[rows].copy()
        others[np.arange(len(rows)), votes] -= 1
        top = others.max(axis=1)
        decided = (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
        agree = (others[decided].argmax(axis=1) == votes[decided]).sum()
        accuracy[j] = (agree + 1.0) / (decided.sum() + 2.0)
    return accuracy


def valid_hits(L_valid: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m,) correct votes and (m,) votes of each column on valid."""
    voted = L_valid >= 0
    correct = voted & (L_valid == labels[:, None])
    return correct.sum(axis=0).astype(np.float64), voted.sum(axis=0).astype(np.float64)
