"""`Labeler`: the distilled ONNX model for predictions, the programs + label model for votes.

What it accepts is its modality's business (manifest.json's "modality" and "input", see
modalities/); how its model runs, its featurizer's (manifest.json's "featurizer", see session.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .label_model import predict_proba as label_model_proba
from .modalities import input_kind
from .session import make_session, run_model


class Labeler:
    """Labels new inputs offline. `package_dir` holds model.onnx, label_model.json, programs/."""

    def __init__(self, package_dir: str | Path, *, threads: int | None = None):
        self.package_dir = Path(package_dir)
        self.manifest = json.loads((self.package_dir / "manifest.json").read_text("utf-8"))
        self.classes: list[str] = self.manifest["classes"]
        self.inputs = input_kind(self.manifest["modality"], self.manifest["input"])
        self._threads = threads
        self._session = None
        self._pool = None
        self._label_model = None

    # -- distilled model ---------------------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            self._session = make_session(
                self.package_dir / "model.onnx", self.manifest["featurizer"], self._threads
            )
        return self._session

    def predict_proba(self, inputs) -> np.ndarray:
        """(n, k) class probabilities from the distilled model."""
        return self._proba(self.inputs.batch(inputs))

    def _proba(self, values: list) -> np.ndarray:
        return run_model(self.session, self.inputs, values, len(self.classes))

    def predict(self, inputs) -> list[str]:
        """Class names from the distilled model."""
        return [self.classes[i] for i in self.predict_proba(inputs).argmax(axis=1)]

    # -- programs and label model ------------------------------------------------------------
    @property
    def program_names(self) -> list[str]:
        return [p["file"].removesuffix(".py") for p in self.manifest["programs"]]

    def _program_pool(self):
        if self._pool is None:
            from .sandbox import ProgramPool

            sources = [
                (self.package_dir / "programs" / p["file"]).read_text("utf-8")
                for p in self.manifest["programs"]
            ]
            self._pool = ProgramPool(  # off Linux: warns once, then runs them unconfined
                sources, len(self.classes), call_timeout=self.manifest["call_timeout_s"],
                require_confinement=False,
            )
        return self._pool

    def program_inputs(self, inputs) -> list:
        """What the programs receive for these inputs (images: each one's concept scores)."""
        return self.program_inputs_of(self.inputs.batch(inputs))

    def program_inputs_of(self, values: list) -> list:
        return self.inputs.program_args(values, self.session)

    def votes(self, inputs) -> np.ndarray:
        """(n, m) int8 votes of the label model's columns; -1 = abstain.

        Columns of precomputed weak labels (programs.weak_labels_column) cannot be recomputed
        offline and abstain here.
        """
        return self._votes(self.inputs.batch(inputs))

    def _votes(self, values: list) -> np.ndarray:
        program_votes = self._program_pool().apply(self.program_inputs_of(values)).votes
        columns = self.manifest["label_model_columns"]
        L = np.full((len(values), len(columns)), -1, dtype=np.int8)
        for j, column in enumerate(columns):
            if column in self.program_names:
                L[:, j] = program_votes[:, self.program_names.index(column)]
        return L

    def vote_proba(self, inputs) -> np.ndarray:
        """(n, k) label-model posterior over the programs' votes."""
        return label_model_proba(self._load_label_model(), self.votes(inputs))

    def vote(self, inputs) -> list[str | None]:
        """Label-model labels from the programs themselves; None where every program abstains."""
        L = self.votes(inputs)
        proba = label_model_proba(self._load_label_model(), L)
        return [
            self.classes[int(p.argmax())] if (row >= 0).any() else None for row, p in zip(L, proba)
        ]

    def explain(self, x) -> dict:
        """Each program's vote and the label model's posterior for one input."""
        values = [self.inputs.one(x)]
        L = self._votes(values)
        proba = label_model_proba(self._load_label_model(), L)[0]
        columns = self.manifest["label_model_columns"]
        return {
            "votes": {c: (self.classes[v] if v >= 0 else None) for c, v in zip(columns, L[0].tolist())},
            "posterior": {c: float(p) for c, p in zip(self.classes, proba)},
            "prediction": self.classes[int(self._proba(values)[0].argmax())],
        }

    def _load_label_model(self) -> dict:
        if self._label_model is None:
            self._label_model = json.loads((self.package_dir / "label_model.json").read_text("utf-8"))
        return self._label_model

    def close(self) -> None:
        """Stop the program workers (started by the first vote/explain)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
