"""Stage 8 at scale: the fitting sample, chunked prediction, many classes."""

from __future__ import annotations

import alchemist_runtime.label_model as runtime
import numpy as np
import pytest

from alchemist_compiler.label_model import KINDS, fit_label_model
from alchemist_compiler.label_model import common as label_model_common
from alchemist_compiler.label_model.common import fit_rows


def synthetic(rows: int, seed: int, k: int = 5, m: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Independent programs: coverage 10-40%, accuracy 40-80%, wrong votes uniform."""
    programs = np.random.default_rng(99)
    coverage, accuracy = programs.uniform(0.1, 0.4, m), programs.uniform(0.4, 0.8, m)
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=rows, p=np.arange(1, k + 1) / (k * (k + 1) / 2))
    wrong = (y[:, None] + rng.integers(1, k, (rows, m))) % k
    votes = np.where(rng.random((rows, m)) < accuracy, y[:, None], wrong)
    return np.where(rng.random((rows, m)) < coverage, votes, -1).astype(np.int8), y


def test_fit_rows_is_a_seeded_sorted_sample_above_the_limit(monkeypatch):
    L = np.arange(100, dtype=np.int8).reshape(50, 2)
    assert fit_rows(L, seed=0) is L
    monkeypatch.setattr(label_model_common, "FIT_ROWS", 10)
    sample = fit_rows(L, seed=0)
    assert len(sample) == 10 and (np.diff(sample[:, 0]) > 0).all()
    np.testing.assert_array_equal(sample, fit_rows(L, seed=0))
    assert not np.array_equal(sample, fit_rows(L, seed=1))


@pytest.fixture(scope="module")
def five_classes() -> dict:
    (L, y), (L_valid, y_valid) = synthetic(6000, seed=0), synthetic(600, seed=1)
    fitted = {
        kind: fit_label_model(kind, L, 5, valid_labels=y_valid, seed=0, L_valid=L_valid)
        for kind in KINDS
        if kind != "auto"
    }
    return {"L": L, "y": y, "fitted": fitted}


def test_every_kind_handles_five_classes_and_most_beat_majority(five_classes):
    L, y = five_classes["L"], five_classes["y"]
    rows = runtime.covered(L)
    accuracy = {
        kind: (runtime.predict_proba(params, L).argmax(axis=1) == y)[rows].mean()
        for kind, params in five_classes["fitted"].items()
    }
    assert all(value > 0.6 for value in accuracy.values()), accuracy
    for kind in ("weighted_majority", "dawid_skene", "flyingsquid"):
        assert accuracy[kind] > accuracy["majority"], accuracy


def test_chunked_prediction_equals_one_pass(five_classes, monkeypatch):
    L = five_classes["L"]
    whole = {kind: runtime.predict_proba(p, L) for kind, p in five_classes["fitted"].items()}
    monkeypatch.setattr(runtime, "CHUNK_ROWS", 777)
    for kind, params in five_classes["fitted"].items():
        np.testing.assert_array_equal(runtime.predict_proba(params, L), whole[kind])
