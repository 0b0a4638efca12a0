"""Tabular rows -> features, in the graph: float32 "input" [N, C] (numbers, category codes, NaN =
missing; alchemist_runtime.modalities.tabular) -> "features" [N, d]:

- numeric columns standardized with train's mean and standard deviation (missing -> 0, the mean);
- a missing-value indicator per column;
- per categorical column, one-hot over its categories plus an "unknown" bucket (a category not
  in the spec); a missing value sets none of them (its indicator says it).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ._graph import Graph

CATEGORICAL = "categorical"


def fit(spec: dict, X: np.ndarray) -> dict:
    """Standardization of the numeric columns (from train) and the size of each categorical one."""
    columns = spec["columns"]
    numeric = [j for j, c in enumerate(columns) if c["type"] != CATEGORICAL]
    mean, std = [], []
    for j in numeric:
        present = X[:, j][~np.isnan(X[:, j])].astype(np.float64)
        mean.append(float(present.mean()) if len(present) else 0.0)
        spread = float(present.std()) if len(present) else 0.0
        std.append(spread if spread > 0 else 1.0)
    categorical = [j for j, c in enumerate(columns) if c["type"] == CATEGORICAL]
    return {"columns": len(columns), "numeric": numeric, "mean": mean, "std": std,
            "categorical": categorical, "sizes": [len(columns[j]["categories"]) for j in categorical]}


def n_features(params: dict) -> int:
    return len(params["numeric"]) + params["columns"] + sum(n + 1 for n in params["sizes"])


def build(params: dict) -> onnx.ModelProto:
    g = Graph("tabular")
    missing = g.op("IsNaN", "input")
    parts = []
    if params["numeric"]:
        index = g.const(params["numeric"], np.int64)
        values = g.op("Gather", "input", index, axis=1)
        scaled = g.op("Div", g.op("Sub", values, g.const(params["mean"])), g.const(params["std"]))
        parts.append(g.op("Where", g.op("Gather", missing, index, axis=1), g.const(0.0), scaled))
    parts.append(g.op("Cast", missing, to=TensorProto.FLOAT))
    if params["categorical"]:
        parts.append(_one_hot(g, params, missing))
    return g.model(g.op("Concat", *parts, axis=1), params["columns"], n_features(params),
                   "alchemist tabular featurizer: standardized numbers, missing flags, one-hot")


def _one_hot(g: Graph, params: dict, missing: str) -> str:
    """Slot offset_j + code + 1 of each categorical column (unknown, code -1: slot offset_j); a
    missing value goes to one spare slot past the end, which is dropped."""
    sizes = np.asarray(params["sizes"], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.float32)
    total = int((sizes + 1).sum())
    index = g.const(params["categorical"], np.int64)
    codes = g.op("Gather", "input", index, axis=1)
    slots = g.op("Add", codes, g.const(offsets + 1.0))
    slots = g.op("Where", g.op("Gather", missing, index, axis=1), g.const(float(total)), slots)
    hot = g.op("OneHot", g.op("Cast", slots, to=TensorProto.INT64),
               g.const([total + 1], np.int64), g.const([0.0, 1.0]), axis=-1)
    summed = g.op("ReduceSum", hot, g.const([1], np.int64), keepdims=0)
    return g.op("Slice", summed, g.const([0], np.int64), g.const([total], np.int64),
                g.const([1], np.int64))
