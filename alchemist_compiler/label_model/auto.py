"""auto: fit every kind, keep the one with the best accuracy on valid (never test).

Candidates: snorkel, majority, weighted_majority, dawid_skene, flyingsquid (with fewer than 3
columns snorkel and flyingsquid are majority vote, so fewer candidates). Accuracy is measured on
the covered valid rows; ties go to the earlier candidate (snorkel first). Without a labeled valid
split (or with no covered valid row) it is snorkel. The chosen kind's params (their "kind" is the
chosen one) get a `selection` record: how it was chosen and the valid accuracy of every candidate.
"""

from __future__ import annotations

from collections.abc import Callable

from .common import FitInputs, valid_accuracy

Fitter = Callable[[FitInputs], dict]


def fit(inputs: FitInputs, candidates: dict[str, Fitter]) -> dict:
    """`candidates`: kind -> fitter, in preference order; the first is the default."""
    default = next(iter(candidates))
    if not inputs.has_valid:
        return {
            **candidates[default](inputs),
            "selection": {"by": "default: no labeled valid split"},
        }
    fitted = {kind: fitter(inputs) for kind, fitter in candidates.items()}
    accuracy = {
        kind: valid_accuracy(p, inputs.L_valid, inputs.valid_labels) for kind, p in fitted.items()
    }
    scored = [kind for kind in fitted if accuracy[kind] is not None]
    best = max(scored, key=lambda kind: accuracy[kind]) if scored else default
    by = "accuracy on covered valid rows" if scored else "default: no covered valid row"
    return {**fitted[best], "selection": {"by": by, "valid_accuracy": accuracy}}
