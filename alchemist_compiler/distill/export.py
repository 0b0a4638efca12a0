"""Export the ensemble to ONNX, join it to the featurizer: one graph, raw input -> probabilities."""

from __future__ import annotations

import io

import numpy as np
import onnx
import torch
from onnx import compose

from .mlp import Ensemble

OUTPUT = "probabilities"
HEAD_INPUT = "mlp_input"


def ensemble_to_onnx(ensemble: Ensemble, n_features: int, opset: int, ir_version: int):
    """The legacy TorchScript exporter: fast, one file, no onnxscript needed."""
    buffer = io.BytesIO()
    torch.onnx.export(
        ensemble.eval(),
        (torch.zeros(1, n_features),),
        buffer,
        input_names=[HEAD_INPUT],
        output_names=[OUTPUT],
        dynamic_axes={HEAD_INPUT: {0: "n"}, OUTPUT: {0: "n"}},
        opset_version=opset,
        dynamo=False,
    )
    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = ir_version
    return model


def join(featurizer: onnx.ModelProto, head: onnx.ModelProto, doc: str) -> onnx.ModelProto:
    """The featurizer's "features" feed the head: one model, "input" -> "probabilities"."""
    model = compose.merge_models(featurizer, head, io_map=[("features", HEAD_INPUT)])
    model.producer_name, model.producer_version, model.doc_string = "alchemist", "", doc
    model.graph.name = "labeler"
    onnx.checker.check_model(model, full_check=True)
    return model


def max_parity_error(model: onnx.ModelProto, raw: np.ndarray, expected: np.ndarray) -> float:
    """Largest |onnxruntime(model)(raw) - expected| over all rows and classes."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], {"input": raw})[0]
    return float(np.abs(got - expected).max()) if len(expected) else 0.0
