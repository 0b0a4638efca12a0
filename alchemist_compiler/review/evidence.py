"""The evidence a reviewer reads, computed once at compile time for manifest.json (class balance,
how programs overlap and conflict, confusion matrices), and what is derived from it or from
label_model.json (per-class precision, recall and F1; each program's accuracy as the label model
estimates it). Every number is rounded, so the manifest is the same bytes on every run."""

from __future__ import annotations

import numpy as np

DIGITS = 6


def confusion_matrix(predicted: np.ndarray, gold: np.ndarray, k: int) -> list[list[int]]:
    """counts[gold class][predicted class]."""
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (np.asarray(gold, dtype=np.intp), np.asarray(predicted, dtype=np.intp)), 1)
    return counts.tolist()


def per_class(confusion: list[list[int]]) -> list[dict]:
    """Precision, recall and F1 of each class (None where the class was never predicted, or has
    no gold row: the ratio is undefined), and its number of gold rows (support)."""
    counts = np.asarray(confusion, dtype=np.float64)
    rows = []
    for c in range(len(counts)):
        hits, predicted, gold = counts[c, c], counts[:, c].sum(), counts[c].sum()
        precision = hits / predicted if predicted else None
        recall = hits / gold if gold else None
        f1 = 2 * hits / (predicted + gold) if predicted + gold else None
        rows.append({"precision": _round(precision), "recall": _round(recall), "f1": _round(f1),
                     "support": int(gold)})
    return rows


def class_balance(pseudo_labels: np.ndarray, valid_gold: np.ndarray | None, k: int) -> dict:
    """Rows per class: the label model's labels on the covered train rows (what the distilled
    model learns from) and valid's gold labels (None without a labeled valid split)."""
    def counts(labels):
        return np.bincount(np.asarray(labels, dtype=np.intp), minlength=k).tolist()

    return {"train_pseudo_labels": counts(pseudo_labels),
            "valid_gold": None if valid_gold is None else counts(valid_gold)}


def program_pairs(L: np.ndarray) -> dict:
    """Shares of train rows where both programs of a pair vote (overlap; the diagonal is each
    program's coverage) and where both vote and disagree (conflict), m x m each."""
    votes = np.asarray(L) >= 0
    n = max(len(L), 1)
    both = votes.T.astype(np.int64) @ votes.astype(np.int64)
    conflict = np.zeros_like(both)
    for j in range(L.shape[1]):
        differ = votes & votes[:, [j]] & (L != L[:, [j]])
        conflict[j] = differ.sum(axis=0)
    return {"overlap": np.round(both / n, DIGITS).tolist(),
            "conflict": np.round(conflict / n, DIGITS).tolist()}


def label_model_accuracies(params: dict) -> list[float | None]:
    """Each column's accuracy where it votes, as the fitted label model estimates it (the weight
    it gets); None for every column of majority vote, where all votes weigh the same."""
    kind, m = params.get("kind"), params.get("n_columns", 0)
    if kind == "weighted_majority":
        return [_round(a) for a in params["accuracies"]]
    if kind == "snorkel":
        k = params["cardinality"]
        mu = np.asarray(params["mu"]).reshape(m, k, k)  # [j, vote, y]: P(vote | y)
        joint = mu * np.asarray(params["class_balance"])[None, None, :]
        return _accuracies(np.trace(joint, axis1=1, axis2=2), joint.sum(axis=(1, 2)))
    if kind == "dawid_skene":
        confusion = np.asarray(params["confusion"])  # [j, y, outcome]: outcome 0 abstains
        joint = confusion[:, :, 1:] * np.asarray(params["class_balance"])[None, :, None]
        return _accuracies(np.trace(joint, axis1=1, axis2=2), joint.sum(axis=(1, 2)))
    if kind == "flyingsquid":
        marginals = np.asarray(params["marginals"])  # [model, j, lambda + 1, Y = +1]
        voted = marginals[0].sum(axis=2)[:, [0, 2]].sum(axis=1) / marginals[0].sum(axis=(1, 2))
        right = marginals[:, :, 2, 1].sum(axis=0) / marginals[0].sum(axis=(1, 2))
        if len(marginals) == 1:  # binary: a vote for class 0 is lambda = -1
            right = right + marginals[0, :, 0, 0] / marginals[0].sum(axis=(1, 2))
        return _accuracies(right, voted)
    return [None] * m


def _accuracies(right: np.ndarray, voted: np.ndarray) -> list[float | None]:
    return [_round(r / v) if v > 0 else None for r, v in zip(right, voted)]


def _round(value) -> float | None:
    return None if value is None else round(float(value), DIGITS)
