"""The rule every `auto` choice follows: the best on valid, if it beats the default beyond chance."""

from __future__ import annotations

import numpy as np
import pytest

from alchemist_compiler.selection import describe, mcnemar_p, select


def correctness(right: int, rows: int = 100) -> np.ndarray:
    return np.arange(rows) < right


def test_mcnemar_p_is_the_exact_binomial_on_discordant_rows():
    default = correctness(90)
    five_wins = correctness(95)  # right on 5 rows where the default is wrong, never the reverse
    assert mcnemar_p(five_wins, default) == pytest.approx(2 * 0.5**5)
    assert mcnemar_p(default, five_wins) == pytest.approx(2 * 0.5**5)
    swapped = np.roll(default, 5)  # 5 wins and 5 losses
    assert mcnemar_p(swapped, default) == pytest.approx(1.0)
    assert mcnemar_p(default, default) == 1.0


def test_a_gain_within_chance_keeps_the_default():
    chosen = select({"hashing": correctness(90), "minilm": correctness(95)}, "hashing")
    assert chosen.best == "minilm" and chosen.chosen == "hashing"
    assert chosen.p_value == pytest.approx(0.0625)
    assert chosen.valid_accuracy == {"hashing": 0.9, "minilm": 0.95}


def test_a_gain_beyond_chance_switches_to_the_best():
    chosen = select({"hashing": correctness(80), "minilm": correctness(95), "both": correctness(93)},
                    "hashing")
    assert chosen.chosen == chosen.best == "minilm" and chosen.p_value < 0.05


def test_ties_go_to_the_earlier_and_the_default_needs_no_test():
    tie = select({"hashing": correctness(90), "minilm": np.roll(correctness(90), 3)}, "hashing")
    assert tie.chosen == tie.best == "hashing" and tie.p_value is None
    record = tie.record("distilled accuracy on valid")
    assert "p_value" not in record and record["default"] == "hashing"


def test_the_record_in_words_names_the_test_and_every_candidate():
    kept = select({"snorkel": correctness(90), "majority": correctness(95)}, "snorkel")
    words = describe(kept.record("accuracy on covered valid rows"), kept.chosen)
    assert words == ("majority's gain over the default snorkel is within chance (majority 0.950 "
                     "against snorkel 0.900, McNemar p=0.062); accuracy on covered valid rows: "
                     "snorkel 0.900, majority 0.950")
    switched = select({"snorkel": correctness(70), "majority": correctness(95)}, "snorkel")
    assert describe(switched.record("x"), switched.chosen).startswith(
        "majority beats the default snorkel beyond chance (majority 0.950 against snorkel 0.700")
