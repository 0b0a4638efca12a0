"""Export the ensemble to ONNX, join it to the featurizer: one graph, raw input -> probabilities."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch
from onnx import compose, helper, numpy_helper

from .mlp import Ensemble

LARGE_WEIGHT = 65536  # elements; the first layer of each MLP (n_features x hidden)
OUTPUT = "probabilities"
HEAD_INPUT = "mlp_input"


def ensemble_to_onnx(ensemble: Ensemble, n_features: int, opset: int, ir_version: int):
    """The legacy TorchScript exporter: fast, one file, no onnxscript needed."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deliberate
        _export(ensemble, n_features, buffer, opset)
    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = ir_version
    return model


def _export(ensemble: Ensemble, n_features: int, buffer: io.BytesIO, opset: int) -> None:
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


def round_to_float16(module: torch.nn.Module, min_elements: int = LARGE_WEIGHT) -> None:
    """Round large weights to float16 values in place, so the fp16 storage below loses nothing."""
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.numel() >= min_elements:
                parameter.copy_(parameter.half().float())


def store_large_weights_as_float16(model: onnx.ModelProto, min_elements: int = LARGE_WEIGHT) -> None:
    """Large float32 initializers become float16 + a Cast back: half the file, same values
    (after round_to_float16, the values were float16-exact already)."""
    graph = model.graph
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        if values.size < min_elements:
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}/float16"))
        casts.append(helper.make_node("Cast", [f"{name}/float16"], [name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


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
