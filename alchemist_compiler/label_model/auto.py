"""auto: fit every kind, keep snorkel unless another's labels score better on valid beyond chance (never test).

Candidates: snorkel, majority, weighted_majority, dawid_skene, flyingsquid (with fewer than 3
columns snorkel and flyingsquid are majority vote, so fewer candidates); the first is the default.
A judge turns each candidate's params into probabilities on the labeled valid rows; in a compile,
those of the distilled model trained on the candidate's soft labels (alchemist_compiler.choices),
which is what the labeler returns on every row. The rule in alchemist_compiler.selection keeps the
candidate with the best Brier score only when a paired t-test says it beats the default.
Without a labeled valid split it is the default. The chosen kind's params (their "kind" is the
chosen one) get a `selection` record: the rule, the test and every candidate's valid scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..selection import select
from .common import FitInputs

Fitter = Callable[[FitInputs], dict]


@dataclass(frozen=True)
class Judge:
    """`proba(params)`: (n_valid, k) probabilities on the labeled valid rows that follow from a
    candidate's params; `by`: what they are, as the record says it."""

    proba: Callable[[dict], np.ndarray]
    by: str


def fit(inputs: FitInputs, candidates: dict[str, Fitter], judge: Judge) -> dict:
    """`candidates`: kind -> fitter, in preference order; the first is the default."""
    default = next(iter(candidates))
    if not inputs.has_valid:
        return {**candidates[default](inputs), "selection": {"by": "default: no labeled valid split"}}
    fitted = {kind: fitter(inputs) for kind, fitter in candidates.items()}
    probabilities = {kind: judge.proba(params) for kind, params in fitted.items()}
    selection = select(probabilities, inputs.valid_labels, default)
    return {**fitted[selection.chosen], "selection": selection.record(judge.by)}
