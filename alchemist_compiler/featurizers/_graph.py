"""A small builder for the dense featurizers' graphs (tabular, window): nodes, constants, model;
and the int8 quantization of the encoders (minilm, clip)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # ai.onnx
IR_VERSION = 10
INPUT_NAME, OUTPUT_NAME = "input", "features"


class Graph:
    """Nodes and initializers under one name prefix; every tensor name is unique and stable."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def _name(self, hint: str) -> str:
        return f"{self.prefix}/{hint}_{len(self.nodes) + len(self.initializers)}"

    def const(self, value, dtype=np.float32) -> str:
        name = self._name("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        output = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attrs))
        return output

    def model(self, features: str, n_columns: int, n_features: int, doc: str) -> onnx.ModelProto:
        """The model: float32 "input" [N, n_columns] -> float32 "features" [N, n_features]."""
        self.nodes.append(helper.make_node("Identity", [features], [OUTPUT_NAME],
                                           name=f"{self.prefix}/output"))
        graph = helper.make_graph(
            self.nodes, f"{self.prefix}_featurizer",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", n_columns])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", n_features])],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  ir_version=IR_VERSION, producer_name="alchemist_compiler")
        model.doc_string = doc
        onnx.checker.check_model(model, full_check=True)
        return model


def quantize_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8: weights per output channel (per tensor loses too much, see FINDINGS)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    silenced = logging.root.manager.disable  # the quantizer logs advice on every call
    logging.disable(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="alchemist-quantize-") as scratch:
            source, target = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
            onnx.save(model, source)
            quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
            return onnx.load(target)
    finally:
        logging.disable(silenced)
