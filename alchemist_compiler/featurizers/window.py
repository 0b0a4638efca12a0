"""Time-series windows -> features, in the graph: float32 "input" [N, L] -> "features" [N, P + 7]:

- the window's shape: linearly resampled to P = min(L, POINTS) points, minus the window's mean,
  divided by its standard deviation;
- seven summary statistics: mean, standard deviation, min, max, the positions of the max and of
  the min (as fractions of L), and the mean absolute difference of consecutive values;
then every feature standardized with its mean and standard deviation over train (`fit`, which
computes the same features with numpy).
"""

from __future__ import annotations

import numpy as np
import onnx

from ._graph import Graph

POINTS = 64
STATISTICS = 7
EPSILON = 1e-6


def resampling(length: int, points: int) -> np.ndarray:
    """[length, points] linear interpolation from `length` samples to `points` evenly spaced."""
    matrix = np.zeros((length, points), dtype=np.float32)
    positions = np.linspace(0.0, length - 1, points) if points > 1 else np.zeros(1)
    for t, p in enumerate(positions):
        low = int(np.floor(p))
        high = min(low + 1, length - 1)
        matrix[low, t] += 1.0 - (p - low)
        matrix[high, t] += p - low
    return matrix


def raw_features(X: np.ndarray) -> np.ndarray:
    """The graph's features before train standardization, with numpy (used by `fit`)."""
    X = X.astype(np.float64)
    length = X.shape[1]
    mean = X.mean(axis=1, keepdims=True)
    std = np.sqrt(((X - mean) ** 2).mean(axis=1, keepdims=True))
    shape = (X @ resampling(length, min(length, POINTS)) - mean) / np.maximum(std, EPSILON)
    steps = np.abs(np.diff(X, axis=1)).mean(axis=1, keepdims=True) if length > 1 else 0 * mean
    stats = [mean, std, X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True),
             X.argmax(axis=1)[:, None] / length, X.argmin(axis=1)[:, None] / length, steps]
    return np.concatenate([shape, *stats], axis=1)


def fit(spec: dict, X: np.ndarray) -> dict:
    features = raw_features(X)
    std = features.std(axis=0)
    return {"length": spec["length"], "mean": features.mean(axis=0).tolist(),
            "std": np.where(std > 0, std, 1.0).tolist()}


def build(params: dict) -> onnx.ModelProto:
    length = params["length"]
    points = min(length, POINTS)
    g = Graph("window")
    x = "input"
    mean = g.op("ReduceMean", x, axes=[1], keepdims=1)
    centered = g.op("Sub", x, mean)
    std = g.op("Sqrt", g.op("ReduceMean", g.op("Mul", centered, centered), axes=[1], keepdims=1))
    resampled = g.op("MatMul", x, g.const(resampling(length, points)))
    shape = g.op("Div", g.op("Sub", resampled, mean), g.op("Max", std, g.const(EPSILON)))
    scale = g.const(1.0 / length)
    positions = [g.op("Mul", g.op("Cast", g.op(op, x, axis=1, keepdims=1), to=1), scale)
                 for op in ("ArgMax", "ArgMin")]
    stats = [mean, std, g.op("ReduceMin", x, axes=[1], keepdims=1),
             g.op("ReduceMax", x, axes=[1], keepdims=1), *positions, _mean_step(g, x, length)]
    raw = g.op("Concat", shape, *stats, axis=1)
    features = g.op("Div", g.op("Sub", raw, g.const(params["mean"])), g.const(params["std"]))
    return g.model(features, length, points + STATISTICS,
                   "alchemist window featurizer: resampled standardized shape, summary statistics")


def _mean_step(g: Graph, x: str, length: int) -> str:
    """Mean absolute difference of consecutive values (0 for a one-value window)."""
    if length < 2:
        return g.op("Mul", g.op("ReduceMean", x, axes=[1], keepdims=1), g.const(0.0))
    def part(start: int, stop: int) -> str:
        return g.op("Slice", x, g.const([start], np.int64), g.const([stop], np.int64),
                    g.const([1], np.int64))
    return g.op("ReduceMean", g.op("Abs", g.op("Sub", part(1, length), part(0, length - 1))),
                axes=[1], keepdims=1)
