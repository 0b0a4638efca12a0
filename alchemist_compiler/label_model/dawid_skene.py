"""Dawid-Skene: per-column confusion matrices and a class prior, fitted by EM.

Each column j has a confusion matrix over k + 1 outcomes, abstaining included:
confusion[j][y][o] = P(outcome o | true class y), o = 0 abstain, o = l + 1 a vote for class l.
Abstaining is an outcome because most programs vote for one class only: what such a program says
is *whether* it votes, which a confusion matrix over votes alone cannot see.

The class prior is valid's class balance when valid labels are given (held fixed: on sms's 73
sparse human programs a free prior drifts to 0.94 ham and covered test accuracy falls from 0.953
to 0.917), else learned by EM (add-one smoothed).

EM, deterministic: the fitting sample's covered rows (all-abstain rows carry no evidence);
posteriors start at the majority vote (ties split evenly); the M-step adds one pseudo-count to
every confusion cell; the E-step is the runtime's own predictor, so compiler and labeler agree
by construction. It stops when no posterior moves by more than TOLERANCE, or after
MAX_ITERATIONS.
"""

from __future__ import annotations

import numpy as np
from alchemist_runtime.label_model import covered, predict_proba

from .common import FitInputs, fit_rows, header, vote_counts

MAX_ITERATIONS = 100
TOLERANCE = 1e-5
SMOOTHING = 1.0


def fit(inputs: FitInputs) -> dict:
    L = fit_rows(inputs.L, inputs.seed)
    L = L[covered(L)]
    k = inputs.k
    groups = [VoteGroups(L[:, j], k) for j in range(L.shape[1])]
    posterior = majority_posterior(L, k)
    params = m_step(inputs, groups, posterior)
    for iteration in range(1, MAX_ITERATIONS + 1):
        updated = predict_proba(params, L)
        converged = len(L) == 0 or np.abs(updated - posterior).max() <= TOLERANCE
        posterior = updated
        params = m_step(inputs, groups, posterior)
        if converged:
            break
    return {**params, "iterations": iteration}


class VoteGroups:
    """One column's voting rows, grouped by the class voted for, to sum posteriors quickly."""

    def __init__(self, column: np.ndarray, k: int):
        voted = np.flatnonzero(column >= 0)
        self.rows = voted[np.argsort(column[voted], kind="stable")]
        self.bounds = np.searchsorted(column[self.rows], np.arange(k + 1))

    def outcome_mass(self, posterior: np.ndarray, total: np.ndarray) -> np.ndarray:
        """(k + 1, k): summed posteriors of the rows with each outcome (0 = abstain).

        `total` is the posterior summed over all rows; abstaining rows get what votes leave."""
        cumulative = np.cumsum(posterior[self.rows], axis=0)
        cumulative = np.concatenate([np.zeros((1, posterior.shape[1])), cumulative])
        votes = cumulative[self.bounds[1:]] - cumulative[self.bounds[:-1]]
        return np.concatenate([(total - votes.sum(axis=0))[None, :], votes])


def m_step(inputs: FitInputs, groups: list[VoteGroups], posterior: np.ndarray) -> dict:
    """Smoothed class prior and confusion matrices from the current posteriors."""
    balance = inputs.class_balance or (posterior.sum(axis=0) + 1.0) / (len(posterior) + inputs.k)
    total = posterior.sum(axis=0)
    mass = np.stack([g.outcome_mass(posterior, total).T for g in groups]) + SMOOTHING
    confusion = mass / mass.sum(axis=2, keepdims=True)
    return header(
        "dawid_skene",
        inputs,
        fit_rows=len(posterior),
        class_balance=np.asarray(balance).tolist(),
        confusion=confusion.tolist(),
    )


def majority_posterior(L: np.ndarray, k: int) -> np.ndarray:
    counts = vote_counts(L, k)
    winners = (counts == counts.max(axis=1, keepdims=True)).astype(np.float64)
    return winners / winners.sum(axis=1, keepdims=True)
