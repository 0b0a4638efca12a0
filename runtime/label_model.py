"""Label-model inference from exported parameters, with numpy alone.

`params` is the JSON the compiler writes (label_model.json). `L` is an int8 vote matrix
(n rows x m columns, -1 = abstain). Every kind returns (n, k) probabilities whose rows sum to 1,
computed in chunks of rows so memory stays flat on millions of rows.

Policies, the same for every input:
- a row where every column abstains gets the class balance (`params["class_balance"]`) for the
  kinds that have one (snorkel, dawid_skene, flyingsquid) and the uniform distribution for the
  vote-counting kinds (majority, weighted_majority);
- tied classes get equal probability (majority: uniform over the most-voted classes;
  weighted_majority: equal weighted scores give equal softmax probabilities); whoever takes an
  argmax of these rows gets the lowest class index (numpy's argmax).

Kinds (each a log-linear score per class, then a link):
- snorkel: p(y) * prod over voting columns of mu[j, L_ij, y] (snorkel LabelModel.predict_proba).
- majority: uniform over the most-voted classes (snorkel MajorityLabelVoter).
- weighted_majority: softmax over classes of the summed weights of the columns voting for each.
- dawid_skene: pi(y) * prod over all columns of confusion[j, y, outcome], abstaining included.
- flyingsquid: the triplet-method model; per binary model P(Y=+1 | votes) from the clique
  marginals of (column, Y); several classes: one-vs-rest, the k "is class c" probabilities
  normalized.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CHUNK_ROWS = 65_536

Predictor = Callable[[np.ndarray], np.ndarray]
#: kind -> builder of its predictor from params; each kind registers itself with @predictor(kind)
PREDICTORS: dict[str, Callable[[dict], Predictor]] = {}


def predictor(kind: str):
    """Register the decorated function as the predictor builder of a label-model kind."""

    def register(build: Callable[[dict], Predictor]) -> Callable[[dict], Predictor]:
        PREDICTORS[kind] = build
        return build

    return register


def predict_proba(params: dict, L: np.ndarray) -> np.ndarray:
    """Posterior class probabilities for each row of L."""
    L = np.asarray(L)
    if L.ndim != 2 or L.shape[1] != params["n_columns"]:
        raise ValueError(f"vote matrix must be (n, {params['n_columns']}), got {L.shape}")
    build = PREDICTORS.get(params["kind"])
    if build is None:
        raise ValueError(f"unknown label model kind {params['kind']!r}")
    predict = build(params)
    proba = np.empty((len(L), params["cardinality"]), dtype=np.float64)
    for start in range(0, len(L), CHUNK_ROWS):
        proba[start : start + CHUNK_ROWS] = predict(L[start : start + CHUNK_ROWS])
    return proba


def covered(L: np.ndarray) -> np.ndarray:
    """Rows where at least one column voted."""
    return (np.asarray(L) >= 0).any(axis=1)


@predictor("snorkel")
def _snorkel(params: dict) -> Predictor:
    """Column tables log mu[j, l, :] for votes l, zero for abstains, plus log p(y)."""
    k = params["cardinality"]
    log_mu = np.log(np.asarray(params["mu"], dtype=np.float64)).reshape(-1, k, k)
    tables = np.concatenate([np.zeros((len(log_mu), 1, k)), log_mu], axis=1)
    balance = np.asarray(params["class_balance"], dtype=np.float64)
    return _log_linear(tables, np.log(balance), balance)


@predictor("majority")
def _majority(params: dict) -> Predictor:
    k = params["cardinality"]

    def predict(L: np.ndarray) -> np.ndarray:
        counts = np.stack([(L == y).sum(axis=1) for y in range(k)], axis=1)
        winners = (counts == counts.max(axis=1, keepdims=True)).astype(np.float64)
        return winners / winners.sum(axis=1, keepdims=True)

    return predict


@predictor("weighted_majority")
def _weighted_majority(params: dict) -> Predictor:
    """A vote for class l adds the column's weight to l's score; softmax over the scores."""
    k = params["cardinality"]
    weights = np.asarray(params["weights"], dtype=np.float64)
    tables = np.zeros((len(weights), k + 1, k))
    tables[:, 1:, :] = weights[:, None, None] * np.eye(k)
    return _log_linear(tables, np.zeros(k), np.full(k, 1.0 / k))


@predictor("dawid_skene")
def _dawid_skene(params: dict) -> Predictor:
    """confusion[j][y][o]: P(column j gives outcome o | y); o = 0 abstain, o = l + 1 votes l."""
    confusion = np.asarray(params["confusion"], dtype=np.float64)
    balance = np.asarray(params["class_balance"], dtype=np.float64)
    return _log_linear(np.log(confusion).transpose(0, 2, 1), np.log(balance), balance)


@predictor("flyingsquid")
def _flyingsquid(params: dict) -> Predictor:
    """marginals[c][j][v][s]: P(lambda_j = v - 1, Y = +1 if s else -1) of binary model c.

    Binary tasks have one model (Y = +1 is class 1); more classes have one per class (one vs rest,
    lambda = +1 for a vote for c, -1 for a vote for another class, 0 for an abstain).
    Exact junction-tree posterior: P(Y | lambda) = prod_j mu_j(lambda_j, Y) / P(Y)^(m - 1).
    """
    k = params["cardinality"]
    balance = np.asarray(params["class_balance"], dtype=np.float64)
    marginals = np.log(np.asarray(params["marginals"], dtype=np.float64))
    log_odds = marginals[..., 1] - marginals[..., 0]  # (models, m, 3): by lambda value + 1
    positive = balance[1:] if len(log_odds) == 1 else balance
    bias = -(marginals.shape[1] - 1) * np.log(positive / (1.0 - positive))
    lam = _one_vs_rest_lambda(k, len(log_odds))  # (models, k + 1): lambda + 1 by outcome
    tables = np.stack([log_odds[c][:, lam[c]] for c in range(len(log_odds))], axis=-1)
    scores = _scores(tables, bias)

    def predict(L: np.ndarray) -> np.ndarray:
        log_odds_rows = scores(L)  # log P(Y = +1) - log P(Y = -1), one column per model
        if log_odds_rows.shape[1] == 1:  # [P(Y = -1), P(Y = +1)] as stable sigmoids
            both = np.concatenate([log_odds_rows, -log_odds_rows], axis=1)
            return _set_uncovered(np.exp(-np.logaddexp(0.0, both)), L, balance)
        return _set_uncovered(_softmax(-np.logaddexp(0.0, -log_odds_rows)), L, balance)

    return predict


def _one_vs_rest_lambda(k: int, models: int) -> np.ndarray:
    """(models, k + 1) index lambda + 1 of each outcome (0 abstain, l + 1 a vote for l)."""
    positive = np.arange(k) if models > 1 else np.array([1])
    lam = np.where(np.arange(k)[None, :] == positive[:, None], 2, 0)
    return np.concatenate([np.ones((models, 1), dtype=np.int64), lam], axis=1)


def _log_linear(tables: np.ndarray, bias: np.ndarray, uncovered: np.ndarray) -> Predictor:
    """softmax(bias + sum_j tables[j, L_ij + 1]); all-abstain rows get `uncovered`."""
    scores = _scores(tables, bias)

    def predict(L: np.ndarray) -> np.ndarray:
        return _set_uncovered(_softmax(scores(L)), L, uncovered)

    return predict


def _softmax(logits: np.ndarray) -> np.ndarray:
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    return proba / proba.sum(axis=1, keepdims=True)


def _scores(tables: np.ndarray, bias: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """bias + sum over columns j of tables[j, L_ij + 1] (tables: m x (k + 1) x width)."""

    def scores(L: np.ndarray) -> np.ndarray:
        outcomes = L.astype(np.intp) + 1
        total = np.tile(bias, (len(L), 1))
        for j in range(L.shape[1]):
            total += np.take(tables[j], outcomes[:, j], axis=0)
        return total

    return scores


def _set_uncovered(proba: np.ndarray, L: np.ndarray, distribution: np.ndarray) -> np.ndarray:
    """`distribution` for the rows where every column abstains."""
    proba[~(L >= 0).any(axis=1)] = distribution
    return proba
