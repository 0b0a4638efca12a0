"""The rule every `auto` choice follows: the best on valid, if it beats the default beyond chance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ttest_rel

from alchemist_compiler.selection import brier_rows, describe, paired_t_p, select


def correctness(right: int, rows: int = 100) -> np.ndarray:
    return np.arange(rows) < right


def confident(right: int, rows: int = 100, confidence: float = 0.9) -> np.ndarray:
    """Two-class probabilities for label 0 on every row: class 0 at `confidence` on the first
    `right` rows, class 1 at `confidence` after."""
    first = np.where(correctness(right, rows), confidence, 1 - confidence)
    return np.stack([first, 1 - first], axis=1)


LABELS = np.zeros(100, dtype=int)


def test_brier_rows_are_squared_distances_from_the_one_hot_label():
    probabilities = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert brier_rows(probabilities, np.array([0, 1, 0])).tolist() == pytest.approx([0.0, 0.5, 2.0])


def test_paired_t_p_is_scipys_and_agreement_or_one_row_is_no_evidence():
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    assert paired_t_p(a, b) == pytest.approx(ttest_rel(a, b).pvalue)
    assert paired_t_p(a, a) == 1.0
    assert paired_t_p(a[:1], b[:1]) == 1.0
    halves = np.arange(50) / 2
    assert paired_t_p(halves - 1, halves) == 0.0  # every row better by the same amount


def test_a_gain_within_chance_keeps_the_default():
    default, better = confident(90), confident(92)  # right on 2 more rows of 100
    chosen = select({"hashing": default, "minilm": better}, LABELS, "hashing", "brier")
    assert chosen.best == "minilm" and chosen.chosen == "hashing"
    assert chosen.p_value == pytest.approx(ttest_rel(brier_rows(better, LABELS), brier_rows(default, LABELS)).pvalue)
    assert chosen.p_value > 0.05
    assert chosen.valid_accuracy == {"hashing": 0.9, "minilm": 0.92}
    assert chosen.valid_scores == {"hashing": pytest.approx(0.18), "minilm": pytest.approx(0.148)}


def test_a_gain_beyond_chance_switches_to_the_best():
    candidates = {"hashing": confident(80), "minilm": confident(95), "both": confident(93)}
    chosen = select(candidates, LABELS, "hashing", "brier")
    assert chosen.chosen == chosen.best == "minilm" and chosen.p_value < 0.05


def test_the_level_is_split_over_the_candidates_that_could_replace_the_default():
    """The same gain (p = 0.045 on 100 rows) switches between two candidates at 0.05, but not as
    the best of three, where the level is 0.05 / 2, nor of five (0.05 / 4) when p = 0.025."""
    default, better = confident(90), confident(94)
    two = select({"hashing": default, "minilm": better}, LABELS, "hashing")
    assert two.chosen == "minilm" and 0.025 < two.p_value < 0.05
    three = select({"hashing": default, "minilm": better, "both": confident(80)}, LABELS, "hashing")
    assert three.best == "minilm" and three.p_value == two.p_value and three.chosen == "hashing"
    assert three.record("x")["level"] == 0.025
    assert "p < 0.025 (0.05 / 2: Bonferroni over the candidates besides the default)" in three.record("x")["rule"]
    others = {name: confident(80) for name in ("majority", "dawid_skene", "flyingsquid")}
    five = select({"snorkel": default, "weighted_majority": confident(95), **others}, LABELS, "snorkel")
    assert 0.0125 < five.p_value < 0.025 and five.chosen == "snorkel"
    assert five.record("x")["level"] == 0.0125
    switched = select({"snorkel": default, "weighted_majority": confident(97), **others}, LABELS, "snorkel")
    assert switched.p_value < 0.0125 and switched.chosen == "weighted_majority"


def test_brier_sees_a_confidence_gain_with_the_same_argmax_on_every_row():
    """No row where the argmax differs (McNemar's test on accuracy would have nothing to count);
    the candidate puts more probability on the label everywhere, which the paired test detects."""
    rng = np.random.default_rng(1)
    default = confident(70, confidence=0.6)
    sharper = confident(70, confidence=0.6)
    sharper[:70, 0] += rng.uniform(0.05, 0.3, 70)
    sharper[:70, 1] = 1 - sharper[:70, 0]
    by_brier = select({"hashing": default, "minilm": sharper}, LABELS, "hashing", "brier")
    assert by_brier.chosen == by_brier.best == "minilm" and by_brier.p_value < 0.05
    assert by_brier.valid_scores["minilm"] < by_brier.valid_scores["hashing"]
    record = by_brier.record("distilled accuracy on valid")
    assert record["criterion"] == "brier" and record["valid_brier"] == by_brier.valid_scores
    assert record["valid_accuracy"] == {"hashing": 0.7, "minilm": 0.7}


def test_ties_go_to_the_earlier_and_the_default_needs_no_test():
    tie = select({"hashing": confident(90), "minilm": np.roll(confident(90), 3, axis=0)}, LABELS,
                 "hashing", "brier")
    assert tie.chosen == tie.best == "hashing" and tie.p_value is None
    record = tie.record("distilled accuracy on valid")
    assert "p_value" not in record and record["default"] == "hashing"


def test_the_record_in_words_names_the_test_and_every_candidate():
    kept = select({"snorkel": confident(90), "majority": confident(92)}, LABELS, "snorkel", "brier")
    words = describe(kept.record("distilled accuracy on valid"), kept.chosen)
    assert words == ("majority's gain over the default snorkel is within chance (Brier score majority "
                     f"0.148 against snorkel 0.180, paired t-test p={kept.p_value:.3f}, level 0.05); distilled "
                     "accuracy on valid: snorkel 0.900 (Brier score 0.180), majority 0.920 (Brier score 0.148)")
    switched = select({"snorkel": confident(70), "majority": confident(95)}, LABELS, "snorkel", "brier")
    assert describe(switched.record("x"), switched.chosen).startswith(
        "majority beats the default snorkel beyond chance (Brier score majority 0.100 against "
        "snorkel 0.500, paired t-test p=0.000, level 0.05); x: snorkel 0.700 (Brier score 0.500), majority 0.950 "
        "(Brier score 0.100)")
    assert describe({"by": "default: no labeled valid split"}, "snorkel") == "default: no labeled valid split"
    record = {**kept.record("x"), "skipped": {"minilm": "the minilm extra is not installed"}}
    assert describe(record, kept.chosen).endswith(
        "majority 0.920 (Brier score 0.148); minilm left out: the minilm extra is not installed")
