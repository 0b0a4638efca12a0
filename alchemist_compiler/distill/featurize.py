"""Run a modality's ONNX featurizer over inputs; keep the (very sparse) result as CSR arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

# Per featurizer run, at most CHUNK_ROWS rows and CHUNK_CELLS rows x (longest row's length + a
# row's share): long documents go in smaller runs (2x faster on IMDb, and less memory).
CHUNK_ROWS = 1024
CHUNK_CELLS = 65536


@dataclass(frozen=True)
class SparseRows:
    """Compressed sparse rows: the features of n inputs, d columns."""

    indptr: np.ndarray  # int64 (n + 1,)
    indices: np.ndarray  # int64 (nnz,)
    values: np.ndarray  # float32 (nnz,)
    n_features: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def rows(self, index: np.ndarray) -> SparseRows:
        """The selected rows, in the given order."""
        starts = self.indptr[index]
        lengths = self.indptr[index + 1] - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = np.arange(indptr[-1]) + np.repeat(starts - indptr[:-1], lengths)
        return SparseRows(indptr, self.indices[take], self.values[take], self.n_features)

    def scipy(self):
        """The rows as a scipy.sparse CSR matrix (no copy)."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values, self.indices, self.indptr), shape=(len(self), self.n_features))

    def dense(self) -> np.ndarray:
        out = np.zeros((len(self), self.n_features), dtype=np.float32)
        rows = np.repeat(np.arange(len(self)), np.diff(self.indptr))
        out[rows, self.indices] = self.values
        return out


def featurize(graph: onnx.ModelProto, needs: dict, kind, values: list) -> SparseRows:
    """Features of program inputs `values` (a runtime modality `kind` makes the model input), in
    input order. Runs are the modality's (text: shortest first, bounded by CHUNK_CELLS)."""
    from alchemist_runtime.session import batches, make_session

    session = make_session(graph.SerializeToString(), needs, threads=1)
    runs = batches(kind.lengths(values), len(values), cells=CHUNK_CELLS,
                   max_rows=kind.batch_rows or CHUNK_ROWS)
    indptr, indices, features, n_features = [np.zeros(1, dtype=np.int64)], [], [], 0
    offset = 0
    for rows in runs:
        dense = session.run(["features"], {"input": kind.model_input([values[i] for i in rows])})[0]
        n_features = dense.shape[1]
        nonzero_rows, cols = np.nonzero(dense)
        indices.append(cols.astype(np.int64))
        features.append(dense[nonzero_rows, cols].astype(np.float32))
        counts = np.bincount(nonzero_rows, minlength=len(dense))
        indptr.append(offset + np.cumsum(counts))
        offset += int(counts.sum())
    stacked = SparseRows(
        np.concatenate(indptr), np.concatenate(indices or [np.zeros(0, np.int64)]),
        np.concatenate(features or [np.zeros(0, np.float32)]), n_features,
    )
    order = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    return stacked.rows(np.argsort(order, kind="stable"))
