"""Regenerate flyingsquid_reference.json: the reference package's fit on the human matrices.

The `flyingsquid` package (0.0.0a0, the only release) is not a dependency: it needs pgmpy's old
MarkovModel (pgmpy 0.1.12), which calls np.product, gone in numpy 2. Run this in a scratch venv:

    python -m venv /tmp/fsq && /tmp/fsq/bin/pip install numpy==2.4.6 pandas scipy networkx \
        pyparsing statsmodels joblib tqdm && /tmp/fsq/bin/pip install --no-deps pgmpy==0.1.12 \
        flyingsquid==0.0.0a0
    /tmp/fsq/bin/python tests/data/make_flyingsquid_reference.py

Per dataset: the class balance used (valid's, add-one smoothed), the clique marginals
(m x 3 x 2, lambda -1/0/+1 by Y -1/+1) and the reference's predict_proba on the test matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

np.product = np.prod  # pgmpy 0.1.12 under numpy 2

from flyingsquid.label_model import LabelModel

DATA = Path(__file__).resolve().parents[2] / "examples"


def split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [
        json.loads(line)
        for line in (DATA / name / "data" / f"{part}.jsonl").read_text().splitlines()
    ]
    return np.array([r["weak_labels"] for r in rows]), np.array([r["label"] for r in rows])


def plus_minus(L: np.ndarray) -> np.ndarray:
    return np.where(L < 0, 0, np.where(L == 1, 1, -1))


def reference(name: str) -> dict:
    (L, _), (_, y_valid), (L_test, _) = (split(name, p) for p in ("train", "valid", "test"))
    balance = (np.bincount(y_valid, minlength=2) + 1.0) / (len(y_valid) + 2.0)
    model = LabelModel(L.shape[1])
    model.fit(plus_minus(L), class_balance=balance)
    by_column = {int(clique[0].split("_")[1]): f.values for clique, f in model.clique_marginals}
    return {
        "class_balance": balance.tolist(),
        "marginals": [by_column[j].tolist() for j in range(L.shape[1])],
        "test_proba": model.predict_proba(plus_minus(L_test)).tolist(),
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("flyingsquid_reference.json")
    out.write_text(json.dumps({name: reference(name) for name in ("youtube", "sms")}) + "\n")
