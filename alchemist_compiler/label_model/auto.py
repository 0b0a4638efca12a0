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

from ..selection import select
from .common import FitInputs, covered_valid

Fitter = Callable[[FitInputs], dict]
BY = "accuracy on covered valid rows"


def fit(inputs: FitInputs, candidates: dict[str, Fitter]) -> dict:
    """`candidates`: kind -> fitter, in preference order; the first is the default."""
    default = next(iter(candidates))
    if not inputs.has_valid:
        return {**candidates[default](inputs), "selection": {"by": "default: no labeled valid split"}}
    fitted = {kind: fitter(inputs) for kind, fitter in candidates.items()}
    scored = {kind: covered_valid(p, inputs.L_valid, inputs.valid_labels) for kind, p in fitted.items()}
    if scored[default] is None:
        return {**fitted[default], "selection": {"by": "default: no covered valid row"}}
    labels = scored[default][1]
    selection = select({kind: proba for kind, (proba, _) in scored.items()}, labels, default, "accuracy")
    return {**fitted[selection.chosen], "selection": selection.record(BY)}
