"""`Labeler`: the distilled ONNX model for predictions, the programs + label model for votes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .label_model import predict_proba as label_model_proba

BATCH_ROWS = 1024  # rows per model run, at most
# ... and at most BATCH_CELLS rows x (characters of the run's longest row + ROW_CELLS), unless it is
# one row. A run's string tensors are padded to its longest row, and the model's first layer
# gathers seeds x hidden floats per n-gram occurrence (a few per character): small runs keep all
# that in cache (fastest), and bounded on long documents, where 1024 rows would need gigabytes.
BATCH_CELLS = 4096
ROW_CELLS = 128  # a row's fixed share (e.g. its row of the n-gram counts)


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
            if self.manifest.get("onnxruntime_extensions"):  # the model has its ops (a tokenizer)
                options.register_custom_ops_library(extensions_library())
            self._session = ort.InferenceSession(
                str(self.package_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def predict_proba(self, inputs) -> np.ndarray:
        """(n, k) class probabilities from the distilled model."""
        return run_by_length(self.session, list(inputs), len(self.classes))

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


def run_by_length(session, inputs: list, k: int) -> np.ndarray:
    """(n, k) "probabilities" of an ONNX session on raw inputs: run shortest first, in runs
    bounded by `length_batches` (a run costs ~ rows x its longest row), returned in input order."""
    proba = np.zeros((len(inputs), k), dtype=np.float32)
    lengths = np.asarray([len(str(x)) for x in inputs], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    for start, stop in length_batches(lengths[order]):
        rows = order[start:stop]
        model_input = _model_input([inputs[i] for i in rows])
        proba[rows] = session.run(["probabilities"], {"input": model_input})[0]
    return proba


def length_batches(
    lengths, cells: int = BATCH_CELLS, max_rows: int = BATCH_ROWS, row_cells: int = ROW_CELLS
) -> list[tuple[int, int]]:
    """Consecutive [start, stop) runs covering inputs of these lengths (best sorted shortest
    first): each run has at most max_rows rows and at most `cells` rows x (its longest +
    row_cells), or is one row."""
    lengths = [int(n) for n in lengths]
    runs, start = [], 0
    while start < len(lengths):
        stop, longest = start + 1, lengths[start]
        while stop < len(lengths) and stop - start < max_rows:
            longest_then = max(longest, lengths[stop])
            if (stop - start + 1) * (longest_then + row_cells) > cells:
                break
            stop, longest = stop + 1, longest_then
        runs.append((start, stop))
        start = stop
    return runs


def _model_input(values: list) -> np.ndarray:
    """Text: a 1-D string tensor."""
    return np.asarray([str(v) for v in values], dtype=object)


def extensions_library() -> str:
    """Path of onnxruntime-extensions' custom-op library, found without importing the package:
    its __init__ imports onnx, and torch + transformers where installed (seconds)."""
    from importlib.util import find_spec

    spec = find_spec("onnxruntime_extensions")
    folders = (spec.submodule_search_locations or []) if spec else []
    library = next((p for f in folders for p in sorted(Path(f).glob("_extensions_pydll.*"))), None)
    if library is None:
        raise ImportError("this labeler's model needs onnxruntime-extensions: "
                          "pip install onnxruntime-extensions")
    return str(library)
