"""Stage 8: the runtime's numpy label model reproduces snorkel, on real label matrices."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import example_split
from snorkel.labeling.model import LabelModel, MajorityLabelVoter

from alchemist_compiler.label_model import class_balance_from, fit_label_model
from alchemist_runtime.label_model import covered, predict_proba


def human_matrix(name: str, split: str) -> np.ndarray:
    return np.asarray([r["weak_labels"] for r in example_split(name, split)], dtype=np.int8)


def gold(name: str, split: str) -> np.ndarray:
    return np.asarray([r["label"] for r in example_split(name, split)])


@pytest.mark.parametrize("name", ["youtube", "sms"])
def test_snorkel_parity_on_human_programs(name):
    L = human_matrix(name, "train")
    params = fit_label_model("snorkel", L, 2, valid_labels=gold(name, "valid"), seed=0)
    reference = LabelModel(cardinality=2, verbose=False)
    reference.fit(L.astype(np.int64), class_balance=np.asarray(params["class_balance"]),
                  n_epochs=500, seed=0, progress_bar=False)
    for split in ("train", "test"):
        L_split = human_matrix(name, split)
        expected = reference.predict_proba(L_split.astype(np.int64))
        np.testing.assert_allclose(predict_proba(params, L_split), expected, atol=1e-6)


def test_majority_parity_with_snorkel_voter():
    L = human_matrix("youtube", "test")
    params = fit_label_model("majority", L, 2, valid_labels=None, seed=0)
    expected = MajorityLabelVoter(cardinality=2).predict_proba(L.astype(np.int64))
    np.testing.assert_array_equal(predict_proba(params, L), expected)


def test_class_balance_from_valid_beats_uniform_on_skewed_sms():
    L_train, L_test, y_test = human_matrix("sms", "train"), human_matrix("sms", "test"), gold("sms", "test")
    rows = covered(L_test)
    with_prior = fit_label_model("snorkel", L_train, 2, valid_labels=gold("sms", "valid"), seed=0)
    uniform = fit_label_model("snorkel", L_train, 2, valid_labels=None, seed=0)

    def accuracy(params):
        return (predict_proba(params, L_test[rows]).argmax(1) == y_test[rows]).mean()

    assert with_prior["class_balance"][0] > 0.8  # sms is ~87% ham
    assert accuracy(with_prior) > accuracy(uniform)


def test_all_abstain_rows_get_the_class_balance_and_shape_is_checked():
    params = {"kind": "snorkel", "cardinality": 2, "n_columns": 2, "class_balance": [0.7, 0.3],
              "mu": [[0.9, 0.2], [0.1, 0.8], [0.6, 0.3], [0.4, 0.7]]}
    np.testing.assert_allclose(predict_proba(params, np.full((3, 2), -1, np.int8)), [[0.7, 0.3]] * 3)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        predict_proba(params, np.zeros((3, 3), np.int8))


def test_class_balance_is_smoothed():
    assert class_balance_from(np.array([0, 0, 0]), 2) == [0.8, 0.2]
    assert class_balance_from(None, 2) is None
