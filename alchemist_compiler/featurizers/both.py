"""`both`: the hashing n-gram features and the MiniLM embedding of each text, concatenated.

One graph, "input" string [N] -> "features" float32 [N, 16384 + 384]: the two featurizers' graphs
side by side on the same input (their names are prefixed apart: "featurizer/", "minilm/"), their
"features" joined by one Concat. Each half has L2 norm 1 (0 for an empty string's hashing half).
ONNX takes one ai.onnx opset per model: the MiniLM graph (opset 17) runs at the hashing graph's
20, which changes only ReduceMean and ReduceL2 among its ops (opset 18 moved `axes` from an
attribute to an input); `_axes_as_inputs` rewrites those.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .hashing import FEATURIZER_OPSET, hashing_featurizer
from .minilm import minilm_featurizer

OUTPUT_NAME = "features"
_REDUCE_AXES_AS_INPUT = frozenset({"ReduceMean", "ReduceL2", "ReduceSum", "ReduceMax", "ReduceMin",
                                   "ReduceProd", "ReduceL1", "ReduceLogSum", "ReduceLogSumExp",
                                   "ReduceSumSquare"})


def _axes_as_inputs(graph: onnx.GraphProto) -> None:
    """Reduce ops written for opset < 18 (axes attribute), in place, subgraphs included: the axes
    become a Constant input (ReduceSum had it as an input already since 13)."""
    nodes = []
    for node in graph.node:
        for attribute in node.attribute:
            for subgraph in [*attribute.graphs, *([attribute.g] if attribute.HasField("g") else [])]:
                _axes_as_inputs(subgraph)
        axes = next((a for a in node.attribute if a.name == "axes"), None)
        if node.op_type in _REDUCE_AXES_AS_INPUT and node.domain in ("", "ai.onnx") and axes:
            name = f"{node.name or node.output[0]}/axes"
            nodes.append(helper.make_node("Constant", [], [name], name=name, value=numpy_helper.from_array(
                np.array(list(axes.ints), np.int64), name)))
            node.attribute.remove(axes)
            del node.input[1:]
            node.input.append(name)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _renamed_output(model: onnx.ModelProto, new: str) -> onnx.GraphProto:
    """The model's graph with its "features" output renamed and its other outputs dropped."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    for node in graph.node:
        node.output[:] = [new if o == OUTPUT_NAME else o for o in node.output]
    return graph


def both_featurizer() -> onnx.ModelProto:
    hashing, minilm = hashing_featurizer(), minilm_featurizer()
    _axes_as_inputs(minilm.graph)
    parts = [_renamed_output(hashing, "both/hashing"), _renamed_output(minilm, "both/minilm")]
    widths = [m.graph.output[0].type.tensor_type.shape.dim[1].dim_value for m in (hashing, minilm)]
    concat = helper.make_node("Concat", ["both/hashing", "both/minilm"], [OUTPUT_NAME],
                              name="both/concat", axis=1)
    graph = helper.make_graph(
        [*parts[0].node, *parts[1].node, concat], "both_featurizer",
        [helper.make_tensor_value_info("input", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", sum(widths)])],
        initializer=[*parts[0].initializer, *parts[1].initializer],
        value_info=[*parts[0].value_info, *parts[1].value_info],
    )
    opsets = {o.domain: o.version for m in (minilm, hashing) for o in m.opset_import}
    opsets[""] = FEATURIZER_OPSET
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        ir_version=max(hashing.ir_version, minilm.ir_version), producer_name="alchemist_compiler")
    model.doc_string = "hashing n-grams and all-MiniLM-L6-v2 embeddings, concatenated"
    onnx.checker.check_model(model, full_check=True)
    return model


def build(params: dict) -> onnx.ModelProto:
    """The registry's builder (no parameters)."""
    return both_featurizer()
