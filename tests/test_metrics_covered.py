"""A label model's accuracy on the rows it covers, next to the all-rows figure."""

from __future__ import annotations

import numpy as np

from alchemist_compiler.metrics import evaluate


def test_covered_accuracy_leaves_out_the_rows_scored_by_the_prior():
    gold = np.array([0, 1, 1, 0, 1, 1])
    covered = np.array([True, True, True, False, False, False])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.7, 0.3], [0.7, 0.3]])
    metrics = evaluate("test", "label model", proba, gold, covered)
    assert metrics.accuracy == round(3 / 6, 6)  # the prior's class on uncovered rows
    assert metrics.accuracy_covered == round(2 / 3, 6)
    assert evaluate("test", "m", proba, gold, np.zeros(6, bool)).accuracy_covered is None
