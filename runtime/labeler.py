"""`Labeler`: the distilled ONNX model for predictions, the programs + label model for votes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .label_model import predict_proba as label_model_proba

BATCH_ROWS = 1024


class Labeler:
    """Labels new inputs offline. `package_dir` holds model.onnx, label_model.json, programs/."""

    def __init__(self, package_dir: str | Path, *, threads: int | None = None):
        self.package_dir = Path(package_dir)
        self.manifest = json.loads((self.package_dir / "manifest.json").read_text("utf-8"))
        self.classes: list[str] = self.manifest["classes"]
        self._threads = threads
        self._session = None
        self._pool = None
        self._label_model = None

    # -- distilled model ---------------------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self._threads:
                options.intra_op_num_threads = self._threads
            self._session = ort.InferenceSession(
                str(self.package_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def predict_proba(self, inputs) -> np.ndarray:
        """(n, k) class probabilities from the distilled model."""
        inputs = list(inputs)
        if not inputs:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        order = np.argsort([len(str(x)) for x in inputs], kind="stable")  # a batch costs ~ its longest row
        ordered = [inputs[i] for i in order]
        parts = [
            self.session.run(["probabilities"], {"input": _model_input(ordered[i : i + BATCH_ROWS])})[0]
            for i in range(0, len(ordered), BATCH_ROWS)
        ]
        return np.concatenate(parts)[np.argsort(order, kind="stable")]

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
            self._pool = ProgramPool(
                sources, len(self.classes), call_timeout=self.manifest["call_timeout_s"]
            )
        return self._pool

    def votes(self, inputs) -> np.ndarray:
        """(n, m) int8 votes of the label model's columns; -1 = abstain.

        Columns of precomputed weak labels (programs.weak_labels_column) cannot be recomputed
        offline and abstain here.
        """
        inputs = list(inputs)
        program_votes = self._program_pool().apply(inputs).votes
        columns = self.manifest["label_model_columns"]
        L = np.full((len(inputs), len(columns)), -1, dtype=np.int8)
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
        L = self.votes([x])
        proba = label_model_proba(self._load_label_model(), L)[0]
        columns = self.manifest["label_model_columns"]
        return {
            "votes": {c: (self.classes[v] if v >= 0 else None) for c, v in zip(columns, L[0].tolist())},
            "posterior": {c: float(p) for c, p in zip(self.classes, proba)},
            "prediction": self.predict([x])[0],
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


def _model_input(values: list) -> np.ndarray:
    """Text: a 1-D string tensor."""
    return np.asarray([str(v) for v in values], dtype=object)
