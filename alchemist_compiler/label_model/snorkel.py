"""snorkel's LabelModel (MeTaL): fitted by snorkel on the fitting sample, exported as mu and p."""

from __future__ import annotations

import numpy as np

from .common import FitInputs, fit_rows, header

MIN_COLUMNS = 3  # snorkel's LabelModel refuses fewer
EPOCHS = 500


def fit(inputs: FitInputs) -> dict:
    """mu (already clamped by fit) and the class prior p: valid's class balance, else uniform.

    snorkel one-hot encodes its input as dense float64 (rows x columns x classes), so it sees the
    fitting sample (common.fit_rows), not the whole matrix.
    """
    import torch
    from snorkel.labeling.model import LabelModel

    torch.set_num_threads(1)
    L = fit_rows(inputs.L, inputs.seed)
    balance = inputs.class_balance
    model = LabelModel(cardinality=inputs.k, verbose=False, device="cpu")
    model.fit(
        L.astype(np.int64),
        class_balance=np.asarray(balance) if balance else None,
        n_epochs=EPOCHS,
        seed=inputs.seed,
        progress_bar=False,
    )
    mu = model.mu.detach().cpu().numpy().astype(np.float64)
    return header(
        "snorkel",
        inputs,
        fit_rows=len(L),
        class_balance=[float(p) for p in model.p],
        mu=[[float(v) for v in row] for row in mu],
    )
