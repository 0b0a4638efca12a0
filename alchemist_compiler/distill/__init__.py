"""Stage 9: distill the label model's soft labels into one ONNX graph, raw input -> probabilities."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import onnx
import torch

from ..featurizers import Featurizer
from ..task import DistillSpec
from .export import (
    ensemble_to_onnx,
    join,
    max_parity_error,
    model_proba,
    round_to_float16,
    sparse_ensemble_to_onnx,
    store_large_weights_as_float16,
)
from .featurize import featurize
from .mlp import Ensemble, TrainResult, train_mlp

PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Distilled:
    model: onnx.ModelProto
    members: list[TrainResult]
    parity_error: float
    needs: dict  # the featurizer's (manifest.json's "featurizer")
    kind: object  # the runtime modality that makes the model's input

    def proba(self, values: list, k: int) -> np.ndarray:
        """(n, k) probabilities on program inputs, exactly as the emitted labeler computes them."""
        return model_proba(self.model, self.needs, self.kind, values, k)


def distill(
    featurizer: Featurizer,
    kind,
    spec: DistillSpec,
    train_inputs: list,
    soft_labels: np.ndarray,
    *,
    seed: int,
    valid_inputs: list | None = None,
    valid_labels: np.ndarray | None = None,
    stage: Callable[[str], AbstractContextManager] = lambda name: nullcontext(),
) -> Distilled:
    """Train `spec.seeds` MLPs on (train_inputs, soft_labels), export their average with the featurizer.

    `kind` is the runtime modality: it turns program inputs into the model's input. The featurizer
    is fitted on train (its parameters, e.g. standardization, become constants of the graph).

    `stage(name)` wraps the "training" and "export" steps (the compile times and shows them).
    Raises RuntimeError when onnxruntime and torch disagree by more than PARITY_TOLERANCE.
    """
    torch.set_num_threads(1)
    with stage("training"):
        graph = featurizer.build(
            featurizer.parameters(kind.spec, lambda: kind.model_input(train_inputs)))
        needs = featurizer.needs()
        train = featurize(graph, needs, kind, train_inputs)
        valid = featurize(graph, needs, kind, valid_inputs) if valid_inputs else None
        members = [
            train_mlp(train, soft_labels, hidden=spec.hidden, seed=seed + i, epochs=spec.epochs,
                      learning_rate=spec.learning_rate, valid=valid, valid_labels=valid_labels)
            for i in range(spec.seeds)
        ]
    with stage("export"):
        return _export(featurizer, graph, needs, kind, train, members, train_inputs)


def _export(featurizer: Featurizer, graph: onnx.ModelProto, needs: dict, kind, train,
            members: list[TrainResult], train_inputs: list) -> Distilled:
    """The featurizer graph and the averaged MLPs as one ONNX graph, checked against torch."""
    ensemble = Ensemble([m.model.dense() for m in members])
    round_to_float16(ensemble)
    opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
    to_onnx = sparse_ensemble_to_onnx if featurizer.occurrence_outputs else ensemble_to_onnx
    head = to_onnx(ensemble, train.n_features, opset, graph.ir_version)
    store_large_weights_as_float16(head)
    model = join(graph, head, doc="alchemist distilled labeler: raw input -> probabilities",
                 keep=featurizer.extra_outputs)
    check_rows = np.arange(min(len(train_inputs), 256))
    with torch.no_grad():
        expected = ensemble(torch.from_numpy(train.rows(check_rows).dense())).numpy()
    error = max_parity_error(model, needs, kind, [train_inputs[i] for i in check_rows], expected)
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX/torch parity check failed: max abs error {error:.2e}")
    return Distilled(model, members, error, needs, kind)
