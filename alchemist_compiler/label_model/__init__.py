"""Stage 8: fit a label model on the vote matrix and export its parameters as JSON.

One module per kind, each with `fit(FitInputs) -> dict` (JSON-ready params with "kind",
"cardinality", "n_columns"); the runtime (alchemist_runtime.label_model) predicts from those
params with numpy alone, and the compiler's soft labels come from that same code, so compiler and
labeler agree. Fitters see at most common.FIT_ROWS train rows (a seeded uniform sample).
"""

from __future__ import annotations

import numpy as np

from . import auto, dawid_skene, flyingsquid, majority, snorkel, weighted_majority
from .auto import Judge
from .common import FitInputs, class_balance_from

FITTERS = {
    "snorkel": snorkel.fit,
    "majority": majority.fit,
    "weighted_majority": weighted_majority.fit,
    "dawid_skene": dawid_skene.fit,
    "flyingsquid": flyingsquid.fit,
}
MIN_COLUMNS = {"snorkel": snorkel.MIN_COLUMNS, "flyingsquid": flyingsquid.MIN_COLUMNS}
SNORKEL_MIN_COLUMNS = snorkel.MIN_COLUMNS
KINDS = (*FITTERS, "auto")

__all__ = [
    "KINDS",
    "SNORKEL_MIN_COLUMNS",
    "Judge",
    "class_balance_from",
    "effective_kind",
    "fit_label_model",
]


def effective_kind(kind: str, n_columns: int) -> str:
    """The kind actually fitted: snorkel and flyingsquid need 3 columns; with fewer, majority."""
    return "majority" if n_columns < MIN_COLUMNS.get(kind, 0) else kind


def fit_label_model(
    kind: str,
    L: np.ndarray,
    k: int,
    *,
    valid_labels: np.ndarray | None,
    seed: int,
    L_valid: np.ndarray | None = None,
    judge: Judge | None = None,
) -> dict:
    """Fitted parameters of the chosen kind (JSON-ready).

    `L_valid` (valid votes, same columns as L) with `valid_labels` lets weighted_majority use valid
    accuracies and auto choose; valid_labels alone gives the class balance (snorkel, flyingsquid).
    auto needs `judge`: what it scores each candidate by on valid (label_model/auto.py).
    """
    inputs = FitInputs(L=L, k=k, L_valid=L_valid, valid_labels=valid_labels, seed=seed)
    m = L.shape[1]
    if kind == "auto":
        if judge is None:
            raise ValueError("label_model.kind auto needs a judge (alchemist_compiler.choices)")
        return auto.fit(
            inputs, {effective_kind(c, m): FITTERS[effective_kind(c, m)] for c in FITTERS}, judge
        )
    if kind not in FITTERS:
        raise ValueError(f"label_model.kind {kind!r} is not implemented; use one of {KINDS}")
    return FITTERS[effective_kind(kind, m)](inputs)
