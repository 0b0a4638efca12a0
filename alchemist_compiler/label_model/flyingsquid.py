"""FlyingSquid (Fu et al. 2020): the triplet method, closed form, columns independent given Y.

Binary natively (lambda = +1 for a vote for class 1, -1 for class 0, 0 for an abstain); with more
classes, one binary model per class, one vs rest. For a binary model with prior P(Y = +1) = p:

- second moments M_ij = mean over rows of lambda_i * lambda_j (abstains count as 0);
- accuracy E[lambda_i Y] = mean over pairs {a, b} not containing i of sqrt(|M_ia M_ib / M_ab|)
  (0 where M_ab = 0): the 'triplet_mean' estimate, signs assumed positive;
- the clique marginal mu_i(lambda, Y) (3 x 2) solves the linear system given by P(lambda_i = 1),
  P(lambda_i = 0), P(Y = 1), P(lambda_i Y = 1) = (1 + E[lambda_i Y] - P(lambda_i = 0)) / 2 and
  abstaining independent of Y; negative entries are flipped and the table renormalized.

This reproduces the reference `flyingsquid` package (0.0.0a0, LabelModel.fit defaults) to 1e-12;
that package does not run with numpy 2 (its pgmpy calls np.product), so it is not a dependency.
Its predict_proba divides by P(Y)^(m - 2) instead of the junction tree's P(Y)^(m - 1) (it counts
separator edges, not the cliques they join), which counts the class prior twice; the runtime uses
the exact posterior. The prior p is valid's class balance, else uniform (as the reference).
"""

from __future__ import annotations

import numpy as np

from .common import FitInputs, fit_rows, header

MIN_COLUMNS = 3  # a triplet needs three columns
FLOOR = 1e-12  # marginals are floored so their logs stay finite


def fit(inputs: FitInputs) -> dict:
    L = fit_rows(inputs.L, inputs.seed)
    k = inputs.k
    balance = np.asarray(inputs.class_balance or [1.0 / k] * k)
    positives = [1] if k == 2 else list(range(k))
    marginals = [clique_marginals(lambdas(L, c), balance[c]) for c in positives]
    return header(
        "flyingsquid",
        inputs,
        fit_rows=len(L),
        class_balance=balance.tolist(),
        marginals=np.stack(marginals).tolist(),
    )


def lambdas(L: np.ndarray, positive: int) -> np.ndarray:
    """+1 for a vote for `positive`, -1 for a vote for another class, 0 for an abstain."""
    return np.where(L < 0, 0, np.where(L == positive, 1, -1)).astype(np.int8)


def clique_marginals(lam: np.ndarray, prior: float) -> np.ndarray:
    """(m, 3, 2): P(lambda_j = v - 1, Y = -1 if s == 0 else +1) for each column j."""
    n = len(lam)
    p_one = (lam == 1).sum(axis=0) / n
    p_zero = (lam == 0).sum(axis=0) / n
    agree = 0.5 * (1.0 + triplet_accuracies(second_moments(lam)) - p_zero)  # P(lambda Y = 1)
    voted_positive = prior * (1.0 - p_zero)  # P(Y = 1, lambda != 0)
    both_one = (agree + p_one + voted_positive - (1.0 - p_zero)) / 2.0
    table = np.empty((lam.shape[1], 3, 2))
    table[:, 0, 0] = agree - both_one
    table[:, 0, 1] = voted_positive - both_one
    table[:, 1, 0] = (1.0 - prior) * p_zero
    table[:, 1, 1] = prior * p_zero
    table[:, 2, 0] = p_one - both_one
    table[:, 2, 1] = both_one
    table = np.abs(table)
    table /= table.sum(axis=(1, 2), keepdims=True)
    return np.maximum(table, FLOOR)


def second_moments(lam: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(m, m) mean of lambda_i * lambda_j over rows, in float64 chunks."""
    total = np.zeros((lam.shape[1], lam.shape[1]))
    for start in range(0, len(lam), chunk):
        part = lam[start : start + chunk].astype(np.float64)
        total += part.T @ part
    return total / len(lam)


def triplet_accuracies(moments: np.ndarray) -> np.ndarray:
    """(m,) mean over pairs a < b (both != i) of sqrt(|M_ia M_ib / M_ab|), 0 where M_ab = 0."""
    m = len(moments)
    a, b = np.triu_indices(m, k=1)
    pair_moment = moments[a, b]
    safe = np.where(pair_moment != 0, pair_moment, 1.0)
    accuracy = np.empty(m)
    for i in range(m):
        keep = (a != i) & (b != i)
        ratio = moments[i, a[keep]] * moments[i, b[keep]] / safe[keep]
        accuracy[i] = np.where(pair_moment[keep] != 0, np.sqrt(np.abs(ratio)), 0.0).mean()
    return accuracy
