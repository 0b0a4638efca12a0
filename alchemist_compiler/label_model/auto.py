"""auto: fit every kind, keep snorkel unless another beats it on valid beyond chance (never test).

Candidates: snorkel, majority, weighted_majority, dawid_skene, flyingsquid (with fewer than 3
columns snorkel and flyingsquid are majority vote, so fewer candidates); the first is the default.
Each is scored on the covered valid rows (all candidates cover the same ones) and the rule in
alchemist_compiler.selection keeps the most accurate only when McNemar's test says it beats the
default.
Without a labeled valid split (or with no covered valid row) it is the default. The chosen kind's
params (their "kind" is the chosen one) get a `selection` record: the rule, the test and the valid
accuracy of every candidate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba

from ..selection import select
from .common import FitInputs

Fitter = Callable[[FitInputs], dict]
BY = "accuracy on covered valid rows"


def fit(inputs: FitInputs, candidates: dict[str, Fitter]) -> dict:
    """`candidates`: kind -> fitter, in preference order; the first is the default."""
    default = next(iter(candidates))
    if not inputs.has_valid:
        return {**candidates[default](inputs), "selection": {"by": "default: no labeled valid split"}}
    fitted = {kind: fitter(inputs) for kind, fitter in candidates.items()}
    rows = covered(inputs.L_valid)
    if not rows.any():
        return {**fitted[default], "selection": {"by": "default: no covered valid row"}}
    probabilities = {kind: predict_proba(p, inputs.L_valid[rows]) for kind, p in fitted.items()}
    selection = select(probabilities, np.asarray(inputs.valid_labels)[rows], default, "accuracy")
    return {**fitted[selection.chosen], "selection": selection.record(BY)}
