"""Stage 9: distill the label model's soft labels into one ONNX graph, raw input -> probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import torch

from ..modality import Modality
from ..task import DistillSpec
from .export import (
    ensemble_to_onnx,
    has_occurrence_outputs,
    join,
    max_parity_error,
    round_to_float16,
    sparse_ensemble_to_onnx,
    store_large_weights_as_float16,
)
from .featurize import CHUNK_CELLS, CHUNK_ROWS, SparseRows, featurize
from .mlp import Ensemble, TrainResult, train_mlp

PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Distilled:
    model: onnx.ModelProto
    members: list[TrainResult]
    parity_error: float


def _batches(modality: Modality, inputs: list) -> list[np.ndarray]:
    from alchemist_runtime.labeler import length_batches

    runs = length_batches([len(str(x)) for x in inputs], cells=CHUNK_CELLS, max_rows=CHUNK_ROWS)
    return [modality.model_input(inputs[start:stop]) for start, stop in runs]


def features_of(modality: Modality, featurizer: onnx.ModelProto, inputs: list) -> SparseRows:
    """Features of inputs, batched in the modality's preferred order (e.g. text by length: a
    batch costs about rows x its longest row), returned in input order."""
    order = modality.batch_order(inputs)
    features = featurize(featurizer, _batches(modality, [inputs[i] for i in order]))
    return features.rows(np.argsort(order, kind="stable"))


def distill(
    modality: Modality,
    spec: DistillSpec,
    train_inputs: list,
    soft_labels: np.ndarray,
    *,
    seed: int,
    valid_inputs: list | None = None,
    valid_labels: np.ndarray | None = None,
) -> Distilled:
    """Train `spec.seeds` MLPs on (train_inputs, soft_labels), export their average with the featurizer.

    Raises RuntimeError when onnxruntime and torch disagree by more than PARITY_TOLERANCE.
    """
    torch.set_num_threads(1)
    featurizer = modality.featurizer(spec)
    train = features_of(modality, featurizer, train_inputs)
    valid = features_of(modality, featurizer, valid_inputs) if valid_inputs else None
    members = [
        train_mlp(train, soft_labels, hidden=spec.hidden, seed=seed + i, epochs=spec.epochs,
                  learning_rate=spec.learning_rate, valid=valid, valid_labels=valid_labels)
        for i in range(spec.seeds)
    ]
    ensemble = Ensemble([m.model.dense() for m in members])
    round_to_float16(ensemble)
    opset = next(o.version for o in featurizer.opset_import if o.domain in ("", "ai.onnx"))
    to_onnx = sparse_ensemble_to_onnx if has_occurrence_outputs(featurizer) else ensemble_to_onnx
    head = to_onnx(ensemble, train.n_features, opset, featurizer.ir_version)
    store_large_weights_as_float16(head)
    model = join(featurizer, head, doc="alchemist distilled labeler: raw input -> probabilities")
    check_rows = np.arange(min(len(train_inputs), 256))
    with torch.no_grad():
        expected = ensemble(torch.from_numpy(train.rows(check_rows).dense())).numpy()
    error = max_parity_error(model, modality.model_input([train_inputs[i] for i in check_rows]), expected)
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX/torch parity check failed: max abs error {error:.2e}")
    return Distilled(model, members, error)
