"""Label-model inference from exported parameters, with numpy alone.

`params` is the JSON the compiler writes (label_model.json). `L` is an int8 vote matrix
(n rows x m columns, -1 = abstain). Every kind returns (n, k) probabilities; a row where every
column abstains gets the class balance (uniform for majority vote).
"""

from __future__ import annotations

import numpy as np


def predict_proba(params: dict, L: np.ndarray) -> np.ndarray:
    """Posterior class probabilities for each row of L."""
    L = np.asarray(L)
    if L.ndim != 2 or L.shape[1] != params["n_columns"]:
        raise ValueError(f"vote matrix must be (n, {params['n_columns']}), got {L.shape}")
    kind = params["kind"]
    if kind == "snorkel":
        return _snorkel_proba(params, L)
    if kind == "majority":
        return _majority_proba(params, L)
    raise ValueError(f"unknown label model kind {kind!r}")


def _snorkel_proba(params: dict, L: np.ndarray) -> np.ndarray:
    """snorkel LabelModel.predict_proba: p(y) * prod_j mu[j, L_ij, y] over voting columns.

    Computed in log space (stable with many columns); matches snorkel to ~1e-7.
    """
    k = params["cardinality"]
    log_mu = np.log(np.asarray(params["mu"], dtype=np.float64)).reshape(-1, k, k)
    logits = np.tile(np.log(np.asarray(params["class_balance"], dtype=np.float64)), (len(L), 1))
    for j in range(L.shape[1]):
        voted = L[:, j] >= 0
        logits[voted] += log_mu[j, L[voted, j].astype(np.int64)]
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def _majority_proba(params: dict, L: np.ndarray) -> np.ndarray:
    """Majority vote: uniform over the most-voted classes (snorkel MajorityLabelVoter's rule)."""
    k = params["cardinality"]
    counts = np.zeros((len(L), k), dtype=np.int64)
    for j in range(L.shape[1]):
        voted = L[:, j] >= 0
        np.add.at(counts, (np.flatnonzero(voted), L[voted, j].astype(np.int64)), 1)
    winners = (counts == counts.max(axis=1, keepdims=True)).astype(np.float64)
    return winners / winners.sum(axis=1, keepdims=True)


def covered(L: np.ndarray) -> np.ndarray:
    """Rows where at least one column voted."""
    return (np.asarray(L) >= 0).any(axis=1)
