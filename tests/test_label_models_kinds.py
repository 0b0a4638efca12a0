"""Stage 8: every label-model kind, fitted on real human label matrices, run by the runtime."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from alchemist_runtime.label_model import covered, predict_proba
from conftest import base_task, example_split, write_task

from alchemist_compiler.label_model import FITTERS, KINDS, Judge, auto, fit_label_model
from alchemist_compiler.label_model.common import FitInputs
from alchemist_compiler.label_model.dawid_skene import VoteGroups, m_step
from alchemist_compiler.task import load_task

REFERENCE = Path(__file__).with_name("data") / "flyingsquid_reference.json"


@cache
def split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    rows = example_split(name, part)
    votes = np.asarray([r["weak_labels"] for r in rows], np.int8)
    return votes, np.asarray([r["label"] for r in rows])


def own_judge(L_valid: np.ndarray, judged: list | None = None) -> Judge:
    """Judges a label model by its own probabilities on every valid row (a compile distills
    first, alchemist_compiler.choices); `judged` collects the params it is given."""
    def proba(params: dict) -> np.ndarray:
        if judged is not None:
            judged.append(params)
        return predict_proba(params, L_valid)

    return Judge(proba, "the label model on valid")


@cache
def fitted(kind: str, name: str, with_valid: bool = True) -> dict:
    (L, _), (L_valid, y_valid) = split(name, "train"), split(name, "valid")
    if not with_valid:
        return fit_label_model(kind, L, 2, valid_labels=None, seed=0, judge=own_judge(L_valid))
    return fit_label_model(kind, L, 2, valid_labels=y_valid, seed=0, L_valid=L_valid, judge=own_judge(L_valid))


@pytest.mark.parametrize("name", ["youtube", "sms"])
def test_flyingsquid_matches_the_reference_package(name):
    """Marginals as the reference fits them; posteriors as its own, without its doubled prior."""
    reference = json.loads(REFERENCE.read_text())[name]
    params = fitted("flyingsquid", name)
    assert params["class_balance"] == pytest.approx(reference["class_balance"], abs=1e-12)
    np.testing.assert_allclose(params["marginals"][0], reference["marginals"], atol=1e-9)

    L_test = split(name, "test")[0]
    theirs = np.asarray(reference["test_proba"]) / np.asarray(reference["class_balance"])
    theirs /= theirs.sum(axis=1, keepdims=True)
    rows = covered(L_test)
    np.testing.assert_allclose(predict_proba(params, L_test)[rows], theirs[rows], atol=1e-6)


@pytest.mark.parametrize("name", ["youtube", "sms"])
def test_dawid_skene_is_a_converged_em_fixed_point_and_the_runtime_its_posterior(name):
    params = fitted("dawid_skene", name)
    L, _ = split(name, "train")
    L = L[covered(L)]
    posterior = predict_proba(params, L)
    np.testing.assert_allclose(posterior, naive_dawid_skene_posterior(params, L), atol=1e-9)

    inputs = FitInputs(
        L=L, k=2, L_valid=split(name, "valid")[0], valid_labels=split(name, "valid")[1]
    )
    again = m_step(inputs, [VoteGroups(L[:, j], 2) for j in range(L.shape[1])], posterior)
    np.testing.assert_allclose(again["confusion"], params["confusion"], atol=1e-4)
    assert params["iterations"] < 100


def naive_dawid_skene_posterior(params: dict, L: np.ndarray) -> np.ndarray:
    """pi(y) * prod_j confusion[j][y][L_ij + 1], row by row."""
    confusion, prior = np.asarray(params["confusion"]), np.asarray(params["class_balance"])
    joint = np.array(
        [
            [
                prior[y] * np.prod([confusion[j, y, v + 1] for j, v in enumerate(row)])
                for y in range(len(prior))
            ]
            for row in L
        ]
    )
    return joint / joint.sum(axis=1, keepdims=True)


def test_dawid_skene_holds_valid_class_balance_and_learns_it_without_valid():
    y_valid = split("sms", "valid")[1]
    expected = (np.bincount(y_valid, minlength=2) + 1.0) / (len(y_valid) + 2.0)
    assert fitted("dawid_skene", "sms")["class_balance"] == pytest.approx(expected.tolist())
    learned = fitted("dawid_skene", "sms", with_valid=False)["class_balance"]
    assert learned != pytest.approx(expected.tolist()) and learned[0] > 0.5


def test_weighted_majority_weights_are_log_odds_of_smoothed_valid_accuracy():
    params = fitted("weighted_majority", "youtube")
    L_valid, y_valid = split("youtube", "valid")
    unsupervised = fitted("weighted_majority", "youtube", with_valid=False)
    assert params["accuracy_source"] == "valid" and unsupervised["accuracy_source"] == "agreement"
    j = 0
    voted = L_valid[:, j] >= 0
    correct = (L_valid[voted, j] == y_valid[voted]).sum()
    accuracy = (correct + 2 * unsupervised["accuracies"][j]) / (voted.sum() + 2)
    assert params["accuracies"][j] == pytest.approx(accuracy)
    assert params["weights"][j] == pytest.approx(max(np.log(accuracy / (1 - accuracy)), 0.0))

    L_test = split("youtube", "test")[0]
    scores = np.stack(
        [((L_test == y) * np.asarray(params["weights"])).sum(axis=1) for y in (0, 1)], axis=1
    )
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predict_proba(params, L_test), expected, atol=1e-12)


def test_auto_scores_what_the_judge_gives_for_every_candidate_and_follows_the_rule():
    """youtube's human programs: every candidate is fitted once and judged once; its score is the
    Brier score of the judge's probabilities; the kind kept is the rule's, with its own params."""
    (L, _), (L_valid, y_valid) = split("youtube", "train"), split("youtube", "valid")
    judged = []
    params = fit_label_model("auto", L, 2, valid_labels=y_valid, seed=0, L_valid=L_valid,
                             judge=own_judge(L_valid, judged))
    selection = params["selection"]
    scores = selection["valid_brier"]
    assert [p["kind"] for p in judged] == list(scores) == \
        ["snorkel", "majority", "weighted_majority", "dawid_skene", "flyingsquid"]
    for kind, score in scores.items():
        proba = predict_proba(fitted(kind, "youtube"), L_valid)
        assert score == pytest.approx(np.square(proba - np.eye(2)[y_valid]).sum(axis=1).mean(), abs=1e-6)
        assert selection["valid_accuracy"][kind] == pytest.approx((proba.argmax(1) == y_valid).mean(), abs=1e-6)
    assert selection["by"] == "the label model on valid" and selection["criterion"] == "brier"
    best = min(scores, key=scores.get)
    assert selection.get("best", "snorkel") == best
    assert params["kind"] == (best if selection.get("p_value", 1.0) < 0.05 / (len(scores) - 1) else "snorkel")
    assert {key: value for key, value in params.items() if key != "selection"} == fitted(params["kind"], "youtube")
    assert fitted("auto", "youtube", with_valid=False)["kind"] == "snorkel"
    two_columns = fit_label_model("auto", L[:, :2], 2, valid_labels=y_valid, seed=0,
                                  L_valid=L_valid[:, :2], judge=own_judge(L_valid[:, :2]))
    assert list(two_columns["selection"]["valid_brier"]) == ["majority", "weighted_majority", "dawid_skene"]


def test_auto_needs_a_judge():
    (L, _), (L_valid, y_valid) = split("youtube", "train"), split("youtube", "valid")
    with pytest.raises(ValueError, match="needs a judge"):
        fit_label_model("auto", L, 2, valid_labels=y_valid, seed=0, L_valid=L_valid)


def test_auto_switches_when_a_candidate_beats_the_default_beyond_chance():
    """One accurate program and two coin flips: majority vote follows the coin flips on many
    rows, weighted_majority follows the accurate one; on 300 valid rows that gain is significant."""
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 2300)
    accuracy = np.array([0.9, 0.55, 0.55])
    right = rng.random((len(gold), 3)) < accuracy
    L = np.where(right, gold[:, None], 1 - gold[:, None]).astype(np.int8)
    candidates = {"majority": FITTERS["majority"], "weighted_majority": FITTERS["weighted_majority"]}
    inputs = FitInputs(L=L[:2000], k=2, L_valid=L[2000:], valid_labels=gold[2000:], seed=0)
    params = auto.fit(inputs, candidates, own_judge(L[2000:]))
    selection = params["selection"]
    assert params["kind"] == "weighted_majority" and selection["best"] == "weighted_majority"
    assert selection["default"] == "majority" and selection["p_value"] < 0.05
    assert {key: value for key, value in params.items() if key != "selection"} == \
        FITTERS["weighted_majority"](inputs)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_json_ready_normalized_and_beats_chance_on_youtube(kind):
    params = json.loads(json.dumps(fitted(kind, "youtube")))
    L_test, y_test = split("youtube", "test")
    proba = predict_proba(params, L_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (proba.argmax(axis=1) == y_test)[covered(L_test)].mean() > 0.75


@pytest.mark.parametrize("kind", KINDS)
def test_all_abstain_rows_get_the_class_balance_or_uniform(kind):
    params = fitted(kind, "sms")
    proba = predict_proba(params, np.full((2, params["n_columns"]), -1, np.int8))
    expected = params.get("class_balance", [0.5, 0.5])
    if params["kind"] in ("majority", "weighted_majority"):
        expected = [0.5, 0.5]
    np.testing.assert_allclose(proba, [expected] * 2, atol=1e-12)


@pytest.mark.parametrize("kind", ["majority", "weighted_majority"])
def test_ties_split_evenly(kind):
    params = {"kind": kind, "cardinality": 3, "n_columns": 3, "weights": [1.0, 1.0, 2.0]}
    proba = predict_proba(params, np.array([[0, 1, -1], [0, 1, 2]], np.int8))
    assert proba[0, 0] == proba[0, 1] > proba[0, 2]
    assert (np.ptp(proba[1]) == 0) == (kind == "majority")


def test_flyingsquid_one_vs_rest_on_three_classes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    votes = np.where(rng.random((3000, 6)) < 0.8, y[:, None], rng.integers(0, 3, (3000, 6)))
    L = np.where(rng.random((3000, 6)) < 0.5, votes, -1).astype(np.int8)
    params = fit_label_model("flyingsquid", L, 3, valid_labels=y[:300], seed=0)
    assert np.shape(params["marginals"]) == (3, 6, 3, 2)
    proba = predict_proba(params, L)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == y)[covered(L)].mean() > 0.85


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_accepted_in_task_yaml(task_dir, kind):
    task = load_task(write_task(task_dir, base_task(label_model={"kind": kind})))
    assert task.label_model.kind == kind


@pytest.mark.parametrize("k", [2, 3])
def test_flyingsquid_is_stable_with_many_confident_columns(k):
    sure = [[0.5, 1e-12], [1e-12, 1e-12], [1e-12, 0.5]]  # lambda -1 <-> Y -1, +1 <-> +1
    models = 1 if k == 2 else k
    params = {
        "kind": "flyingsquid",
        "cardinality": k,
        "n_columns": 60,
        "class_balance": [1 / k] * k,
        "marginals": [[sure] * 60] * models,
    }
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        proba = predict_proba(params, np.ones((1, 60), np.int8))
    assert proba.argmax() == 1 and proba.sum() == pytest.approx(1.0)
