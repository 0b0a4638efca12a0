"""`Labeler`: the distilled ONNX model for predictions, the programs + label model for votes.

`predict(..., programs=True)` uses both: where at least one program votes, the distilled model's
probabilities are averaged with the label model's posterior (`combined_proba`, the "combined"
model of the compile's metrics); elsewhere they are the distilled model's.

What it accepts is its modality's business (manifest.json's "modality" and "input", see
modalities/); how its model runs, its featurizer's (manifest.json's "featurizer", see session.py).

Abstaining: the label-returning methods (`predict`, `vote`, `explain`) return None (the abstain
value) for an input that carries no evidence (a blank text, `InputKind.blank`), where every
program abstains (`vote`), and where the top probability is below `threshold`. The probability
methods (`predict_proba`, `vote_proba`) and `votes` return the models' outputs for every input:
what the compiler measured and checked.
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

    def predict_proba(self, inputs, programs: bool = False) -> np.ndarray:
        """(n, k) class probabilities from the distilled model (`programs`: combined with the
        label model where a program votes; runs the programs)."""
        return self._proba(self.inputs.batch(inputs), programs)

    def _proba(self, values: list, programs: bool = False) -> np.ndarray:
        proba = run_model(self.session, self.inputs, values, len(self.classes))
        if not programs:
            return proba
        L = self._votes(values)
        return combined_proba(proba, label_model_proba(self._load_label_model(), L), L)

    def predict(self, inputs, threshold: float | None = None,
                programs: bool = False) -> list[str | None]:
        """Class names from the distilled model (`programs`: combined with the label model
        where a program votes); None for a blank input, and where the top probability is below
        `threshold` (0 to 1; None: never)."""
        return self.predict_and_proba(inputs, threshold, programs)[0]

    def predict_and_proba(self, inputs, threshold: float | None = None, programs: bool = False):
        """(predict's labels, predict_proba's (n, k) array) from one run of the model(s)."""
        check_threshold(threshold)
        values = self.inputs.batch(inputs)
        proba = self._proba(values, programs)
        return self._labels(proba, self._evidence(values), threshold), proba

    def _evidence(self, values: list) -> np.ndarray:
        """Per input, whether it carries evidence (is not blank)."""
        return np.array([not self.inputs.blank(v) for v in values], dtype=bool)

    def _labels(self, proba: np.ndarray, evidence: np.ndarray, threshold: float | None) -> list:
        """The top class of each row of proba; None where evidence is False or the top
        probability is below threshold."""
        top = proba.argmax(axis=1)
        confident = evidence & (proba.max(axis=1, initial=0.0) >= (threshold or 0.0))
        return [self.classes[int(i)] if ok else None for i, ok in zip(top, confident)]

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

    def vote(self, inputs, threshold: float | None = None) -> list[str | None]:
        """Label-model labels from the programs themselves; None for a blank input, where every
        program abstains, and where the top posterior is below `threshold`."""
        return self.vote_and_proba(inputs, threshold)[0]

    def vote_and_proba(self, inputs, threshold: float | None = None):
        """(vote's labels, vote_proba's (n, k) array) from one run of the programs."""
        labels, proba, _ = self._vote(self.inputs.batch(inputs), threshold)
        return labels, proba

    def _vote(self, values: list, threshold: float | None):
        """(vote's labels, the label model's posterior, the votes) for program inputs."""
        check_threshold(threshold)
        L = self._votes(values)
        proba = label_model_proba(self._load_label_model(), L)
        evidence = self._evidence(values) & (L >= 0).any(axis=1)
        return self._labels(proba, evidence, threshold), proba, L

    def explain(self, x, threshold: float | None = None) -> dict:
        """For one input, the models' answers: the distilled model's (what `predict` gives),
        the label model's (what `vote` gives) and their combination (`predict(...,
        programs=True)`), each with its probabilities, and each program's vote (a class name,
        None = abstain)."""
        values = [self.inputs.one(x)]
        labels, posterior, L = self._vote(values, threshold)
        proba = self._proba(values)
        combined = combined_proba(proba, posterior, L)
        evidence = self._evidence(values)
        columns = self.manifest["label_model_columns"]
        return {
            "distilled": {
                "prediction": self._labels(proba, evidence, threshold)[0],
                "probabilities": self._by_class(proba[0]),
            },
            "label_model": {"prediction": labels[0], "posterior": self._by_class(posterior[0])},
            "combined": {
                "prediction": self._labels(combined, evidence, threshold)[0],
                "probabilities": self._by_class(combined[0]),
            },
            "votes": {c: (self.classes[v] if v >= 0 else None)
                      for c, v in zip(columns, L[0].tolist())},
        }

    def _by_class(self, row: np.ndarray) -> dict[str, float]:
        return {c: float(p) for c, p in zip(self.classes, row)}

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


def combined_proba(distilled: np.ndarray, posterior: np.ndarray, L: np.ndarray) -> np.ndarray:
    """The distilled model's probabilities, averaged with the label model's posterior on the
    rows where at least one column of the votes `L` voted."""
    voted = (L >= 0).any(axis=1)
    combined = distilled.astype(np.float64, copy=True)
    combined[voted] = (distilled[voted] + posterior[voted]) / 2
    return combined


def check_threshold(threshold) -> None:
    """A threshold is None or a number from 0 to 1 (a ValueError / TypeError otherwise)."""
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError("threshold must be a number from 0 to 1 or None, got "
                        f"{type(threshold).__name__}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be from 0 to 1, got {threshold}")
