"""Review building blocks without a compile: evidence numbers, the label-model sentence, program
matching in diffs."""

from __future__ import annotations

import numpy as np
import pytest
from alchemist_runtime.label_model import predict_proba

from alchemist_compiler.label_model import Judge, fit_label_model
from alchemist_compiler.review.diff import match_programs
from alchemist_compiler.review.evidence import (
    confusion_matrix,
    label_model_accuracies,
    per_class,
    program_pairs,
)
from alchemist_compiler.review.labeler import Labeler
from alchemist_compiler.review.provenance import label_model_choice

ACCURACIES = [0.95, 0.75, 0.6, 0.85]


def noisy_votes(k: int, rows: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Columns right with ACCURACIES where they vote (60% of rows), else another class at random."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, k, rows)
    columns = []
    for accuracy in ACCURACIES:
        votes = np.where(rng.random(rows) < accuracy, gold, (gold + rng.integers(1, k, rows)) % k)
        columns.append(np.where(rng.random(rows) < 0.6, votes, -1))
    return np.stack(columns, axis=1).astype(np.int8), gold


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("kind", ["snorkel", "dawid_skene", "flyingsquid"])
def test_label_model_weights_estimate_each_programs_accuracy(kind, k):
    L, gold = noisy_votes(k)
    params = fit_label_model(kind, L, k, valid_labels=gold[:300], seed=0, L_valid=L[:300])
    estimates = label_model_accuracies(params)
    assert np.allclose(estimates, ACCURACIES, atol=0.06), estimates
    assert np.argsort(estimates).tolist() == np.argsort(ACCURACIES).tolist()


def test_weighted_majority_weights_are_its_own_accuracies():
    L, gold = noisy_votes(3)
    params = fit_label_model("weighted_majority", L, 3, valid_labels=gold[:300], seed=0, L_valid=L[:300])
    assert label_model_accuracies(params) == [round(a, 6) for a in params["accuracies"]]


def test_majority_vote_weighs_every_program_the_same():
    L, gold = noisy_votes(2)
    assert label_model_accuracies(fit_label_model("majority", L, 2, valid_labels=None, seed=0)) == [None] * 4


def test_per_class_precision_recall_f1_from_the_confusion_matrix():
    gold = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 0, 1, 0, 1])
    confusion = confusion_matrix(predicted, gold, 3)
    assert confusion == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    ham, spam, other = per_class(confusion)
    assert ham == {"precision": round(2 / 3, 6), "recall": round(2 / 3, 6), "f1": round(2 / 3, 6), "support": 3}
    assert spam["precision"] == round(1 / 3, 6) and spam["recall"] == 0.5
    assert other == {"precision": None, "recall": 0.0, "f1": 0.0, "support": 1}  # never predicted


def test_program_pairs_count_shared_and_disagreeing_votes():
    L = np.array([[0, 0, -1], [1, 0, 1], [-1, 1, 1], [-1, -1, -1]])
    pairs = program_pairs(L)
    assert pairs["overlap"] == [[0.5, 0.5, 0.25], [0.5, 0.75, 0.5], [0.25, 0.5, 0.5]]
    assert pairs["conflict"] == [[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]]


def test_the_auto_choice_is_a_sentence_naming_every_candidate():
    L, gold = noisy_votes(2)
    judge = Judge(lambda p: predict_proba(p, L[:300]), "the label model on valid")
    params = fit_label_model("auto", L, 2, valid_labels=gold[:300], seed=0, L_valid=L[:300], judge=judge)
    choice = label_model_choice("auto", params, 4, 3)
    candidates, scores = params["selection"]["valid_accuracy"], params["selection"]["valid_brier"]
    assert choice["reason"].startswith(f"auto chose {params['kind']}: ")
    assert "; the label model on valid: " + ", ".join(
        f"{kind} {acc:.3f} (Brier score {scores[kind]:.3f})" for kind, acc in candidates.items()) in choice["reason"]
    test = params["selection"].get("p_value")
    assert (test is None) == ("paired t-test" not in choice["reason"]) and "{" not in choice["reason"]
    assert choice["candidates"] == candidates


def test_too_few_programs_for_snorkel_is_said():
    params = fit_label_model("snorkel", np.array([[0], [1], [-1]], dtype=np.int8), 2, valid_labels=None, seed=0)
    assert label_model_choice("snorkel", params, 1, 3)["reason"] == \
        "only 1 program kept: snorkel needs at least 3, using majority"


def labeler(programs: dict[str, str], strategies: dict[str, str]) -> Labeler:
    manifest = {"programs": [{"file": f, "strategy": strategies[f]} for f in programs]}
    return Labeler("x", manifest, {}, programs, ())


def program(body: str) -> str:
    return f'"""Labeling program (compiled by Alchemist).\n\nWritten by m.\n"""\n\n{body}'


KEYWORDS = 'def label(x):\n    words = ["subscribe", "channel", "check out"]\n    return 1 if any(w in x for w in words) else -1\n'


def test_llm_programs_pair_by_similar_code_of_the_same_strategy():
    old = labeler({"p01_keywords_aaaaaaaa.py": program(KEYWORDS),
                   "p02_rules_bbbbbbbb.py": program("def label(x):\n    return 0 if 'song' in x else -1\n")},
                  {"p01_keywords_aaaaaaaa.py": "keywords", "p02_rules_bbbbbbbb.py": "rules"})
    changed = KEYWORDS.replace('"check out"', '"check out", "free"')
    new = labeler({"p01_keywords_cccccccc.py": program(changed),
                   "p02_general_dddddddd.py": program("def label(x):\n    return 1 if 'http' in x else -1\n"),
                   "p03_rules_bbbbbbbb.py": program("def label(x):\n    return 0 if 'song' in x else -1\n")},
                  {"p01_keywords_cccccccc.py": "keywords", "p02_general_dddddddd.py": "general",
                   "p03_rules_bbbbbbbb.py": "rules"})
    pairs, removed, added = match_programs(old, new)
    assert sorted(pairs) == [("p01_keywords_aaaaaaaa.py", "p01_keywords_cccccccc.py"),
                             ("p02_rules_bbbbbbbb.py", "p03_rules_bbbbbbbb.py")]
    assert (removed, added) == ([], ["p02_general_dddddddd.py"])


def test_unlike_code_is_removed_and_added_not_changed():
    old = labeler({"p01_rules_aaaaaaaa.py": program(KEYWORDS)}, {"p01_rules_aaaaaaaa.py": "rules"})
    new = labeler({"p01_rules_bbbbbbbb.py": program("import math\n\ndef label(x):\n    return int(math.sqrt(len(x))) % 2\n")},
                  {"p01_rules_bbbbbbbb.py": "rules"})
    assert match_programs(old, new) == ([], ["p01_rules_aaaaaaaa.py"], ["p01_rules_bbbbbbbb.py"])
