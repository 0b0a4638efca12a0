"""Export the ensemble to ONNX, join it to the featurizer: one graph, raw input -> probabilities.

Two heads. When the featurizer also outputs its features per occurrence ("buckets", "values":
see hashing.py), the head's first layer is sparse: one Gather of the rows of all members' first
weights, concatenated ([D, seeds x hidden]), weighted by the values and summed over occurrences
(one batched MatMul); the other layers run for all members at once as batched MatMuls over a
[seeds, N, width] tensor. That costs the occurrences x seeds x hidden, not D x seeds x hidden
per row. Otherwise (dense features) the torch-exported ensemble reads "features".
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, compose, helper, numpy_helper
from torch import nn

from ..featurizers.hashing import BUCKETS_NAME, VALUES_NAME
from .mlp import Ensemble

LARGE_WEIGHT = 65536  # elements; the first layer of each MLP (n_features x hidden)
OUTPUT = "probabilities"
HEAD_INPUT = "mlp_input"
HEAD_BUCKETS = "mlp_buckets"
HEAD_VALUES = "mlp_values"
FIRST_WEIGHT = "mlp/first_weight"


def _layers(member: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a dense member: Linear, (ReLU, Linear)*."""
    modules = list(member)
    expected = [nn.ReLU if i % 2 else nn.Linear for i in range(len(modules))]
    if len(modules) % 2 == 0 or not all(map(isinstance, modules, expected)):
        raise ValueError(f"expected Linear, (ReLU, Linear)*; got {member}")
    return modules[0::2]


def _array(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float32)


def sparse_ensemble_to_onnx(ensemble: Ensemble, n_features: int, opset: int, ir_version: int):
    """The ensemble reading occurrences: (HEAD_BUCKETS int64 [N, T], HEAD_VALUES float32 [N, T])
    -> OUTPUT float32 [N, k], the same function as the ensemble on the dense features."""
    members = [_layers(member) for member in ensemble.members]
    seeds, depth = len(members), len(members[0])
    widths = [layer.out_features for layer in members[0]]
    if any([layer.out_features for layer in m] != widths for m in members):
        raise ValueError("ensemble members differ in shape")
    if members[0][0].in_features != n_features:
        raise ValueError(f"the first layer reads {members[0][0].in_features} features, "
                         f"not {n_features}")

    nodes, initializers = [], []

    def const(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(op_type: str, *inputs: str, **attrs: object) -> str:
        output = f"mlp/{op_type.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attrs))
        return output

    # first layer, all members: [D, seeds * width] rows gathered per occurrence
    first = np.concatenate([_array(m[0].weight).T for m in members], axis=1)
    gathered = op("Gather", const(FIRST_WEIGHT, first), HEAD_BUCKETS, axis=0)  # [N, T, S * H]
    weights = op("Unsqueeze", HEAD_VALUES, const("mlp/axis_1", np.array([1], np.int64)))
    summed = op("MatMul", weights, gathered)  # [N, 1, S * H]
    shape = const("mlp/shape_n_s_h", np.array([0, seeds, widths[0]], np.int64))  # 0: keep N
    per_member = op("Reshape", summed, shape)
    hidden = op("Transpose", per_member, perm=[1, 0, 2])  # [S, N, H]
    bias = np.stack([_array(m[0].bias) for m in members])[:, None, :]
    hidden = op("Add", hidden, const("mlp/bias_0", bias))
    for layer in range(1, depth):
        hidden = op("Relu", hidden)
        weight = np.stack([_array(m[layer].weight).T for m in members])  # [S, in, out]
        hidden = op("MatMul", hidden, const(f"mlp/weight_{layer}", weight))
        bias = np.stack([_array(m[layer].bias) for m in members])[:, None, :]
        hidden = op("Add", hidden, const(f"mlp/bias_{layer}", bias))
    probabilities = op("Softmax", hidden, axis=-1)  # [S, N, k]
    nodes.append(helper.make_node(
        "ReduceMean", [probabilities, const("mlp/axis_0", np.array([0], np.int64))], [OUTPUT],
        name="mlp/mean", keepdims=0))

    graph = helper.make_graph(
        nodes,
        "mlp_ensemble",
        [helper.make_tensor_value_info(HEAD_BUCKETS, TensorProto.INT64, ["n", "t"]),
         helper.make_tensor_value_info(HEAD_VALUES, TensorProto.FLOAT, ["n", "t"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", widths[-1]])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir_version)


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
    (after round_to_float16, the values were float16-exact already; one that is not stays
    float32, so this never changes a value)."""
    graph = model.graph
    casts = []
    for initializer in graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(initializer)
        if values.size < min_elements:
            continue
        with np.errstate(over="ignore"):
            if not np.array_equal(values.astype(np.float16).astype(np.float32), values):
                continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}/float16"))
        casts.append(helper.make_node("Cast", [f"{name}/float16"], [name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def only_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of model that computes just the named outputs (unneeded nodes and initializers
    dropped, order kept)."""
    graph = model.graph
    needed, kept = set(names), []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
            needed.update(_outer_names(node))
    kept.reverse()
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    out = pruned.graph
    del out.node[:], out.output[:], out.initializer[:], out.value_info[:]
    out.node.extend(kept)
    by_name = {o.name: o for o in graph.output}
    out.output.extend(by_name[name] for name in names)
    out.initializer.extend(i for i in graph.initializer if i.name in needed)
    out.value_info.extend(v for v in graph.value_info if v.name in needed)
    return pruned


def _outer_names(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If, Loop, Scan) read, conservatively: all their inputs."""
    names = set()
    for attribute in node.attribute:
        subgraphs = list(attribute.graphs)
        if attribute.type == onnx.AttributeProto.GRAPH:
            subgraphs.append(attribute.g)
        for subgraph in subgraphs:
            for inner in subgraph.node:
                names.update(name for name in inner.input if name)
                names.update(_outer_names(inner))
    return names


def join(featurizer: onnx.ModelProto, head: onnx.ModelProto, doc: str,
         keep: tuple[str, ...] = ()) -> onnx.ModelProto:
    """The featurizer's output feeds the head: one model, "input" -> "probabilities" (and the
    featurizer's outputs named in `keep`).

    A head reading occurrences gets the featurizer's "buckets" and "values" (and the featurizer
    keeps only what computes them); otherwise the head reads "features".
    """
    if HEAD_BUCKETS in {i.name for i in head.graph.input}:
        io_map = [(BUCKETS_NAME, HEAD_BUCKETS), (VALUES_NAME, HEAD_VALUES)]
    else:
        io_map = [("features", HEAD_INPUT)]
    featurizer = only_outputs(featurizer, [name for name, _ in io_map] + list(keep))
    model = compose.merge_models(featurizer, head, io_map=io_map)
    model.producer_name, model.producer_version, model.doc_string = "alchemist", "", doc
    model.graph.name = "labeler"
    onnx.checker.check_model(model, full_check=True)
    return model


def model_proba(model: onnx.ModelProto, needs: dict, kind, values: list, k: int) -> np.ndarray:
    """(n, k) probabilities of the joined model on program inputs, computed exactly as the
    emitted labeler computes them (its session helper, its modality's runs)."""
    from alchemist_runtime.session import make_session, run_model

    return run_model(make_session(model.SerializeToString(), needs), kind, list(values), k)


def max_parity_error(model: onnx.ModelProto, needs: dict, kind, values: list,
                     expected: np.ndarray) -> float:
    """Largest |onnxruntime(model)(values) - expected| over all rows and classes."""
    got = model_proba(model, needs, kind, values, np.shape(expected)[1])
    return float(np.abs(got - expected).max()) if len(expected) else 0.0
