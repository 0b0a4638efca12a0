"""Stage 9: MLP ensemble on soft labels -> one ONNX graph from raw text; parity with torch."""

from __future__ import annotations

import itertools
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import example_split

from alchemist_compiler.distill import distill
from alchemist_compiler.distill.export import (
    FIRST_WEIGHT,
    ensemble_to_onnx,
    join,
    only_outputs,
    sparse_ensemble_to_onnx,
    store_large_weights_as_float16,
)
from alchemist_compiler.distill.featurize import featurize
from alchemist_compiler.distill.mlp import Ensemble
from alchemist_compiler.featurizers import get_featurizer
from alchemist_compiler.featurizers.hashing import hashing_featurizer
from alchemist_compiler.label_model import fit_label_model
from alchemist_compiler.task import DistillSpec
from alchemist_runtime import labeler as runtime_labeler
from alchemist_runtime import session as runtime_session
from alchemist_runtime.label_model import covered, predict_proba
from alchemist_runtime.modalities.text import TextInput

HASHING = get_featurizer("hashing")
TEXT = TextInput({"column": "text", "max_chars": 20000})


@pytest.fixture(scope="module")
def youtube_distilled():
    train, valid = example_split("youtube", "train"), example_split("youtube", "valid")
    L = np.asarray([r["weak_labels"] for r in train], dtype=np.int8)
    y_valid = np.asarray([r["label"] for r in valid])
    params = fit_label_model("snorkel", L, 2, valid_labels=y_valid, seed=0)
    rows = np.flatnonzero(covered(L))
    texts = [train[i]["text"] for i in rows]
    spec = DistillSpec(seeds=2, epochs=8)
    result = distill(HASHING, TEXT, spec, texts, predict_proba(params, L)[rows], seed=0,
                     valid_inputs=[r["text"] for r in valid], valid_labels=y_valid)
    return result, texts, spec, predict_proba(params, L)[rows]


def run_onnx(model: onnx.ModelProto, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"input": np.asarray(texts, dtype=object)})[0]


def test_one_graph_from_raw_strings_to_probabilities(youtube_distilled):
    result, texts, _, _ = youtube_distilled
    graph = result.model.graph
    assert [i.name for i in graph.input] == ["input"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.STRING
    assert [o.name for o in graph.output] == ["probabilities"]
    proba = run_onnx(result.model, texts[:50] + ["", "ÜBER 🙂"])
    assert proba.shape == (52, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_onnx_matches_the_torch_ensemble(youtube_distilled):
    result, texts, spec, _ = youtube_distilled
    assert len(result.members) == spec.seeds
    assert result.parity_error < 1e-5
    graph = HASHING.build({})
    dense = torch.from_numpy(featurize(graph, HASHING.needs(), TEXT, texts[:200]).dense())
    with torch.no_grad():
        members = [torch.softmax(m.model.dense()(dense), dim=1) for m in result.members]
        expected = torch.stack(members).mean(0).numpy()
    # the emitted weights are float16-rounded; the trained ones are not: close, not equal
    np.testing.assert_allclose(run_onnx(result.model, texts[:200]), expected, atol=2e-3)


def test_distilled_model_learns_the_soft_labels(youtube_distilled):
    result, texts, _, soft = youtube_distilled
    agreement = (run_onnx(result.model, texts).argmax(1) == soft.argmax(1)).mean()
    assert agreement > 0.9


def test_training_and_export_are_deterministic(youtube_distilled):
    result, texts, spec, soft = youtube_distilled
    again = distill(HASHING, TEXT, spec, texts, soft, seed=0,
                    valid_inputs=None, valid_labels=None)
    once_more = distill(HASHING, TEXT, spec, texts, soft, seed=0,
                        valid_inputs=None, valid_labels=None)
    assert again.model.SerializeToString() == once_more.model.SerializeToString()
    assert [m.best_epoch for m in again.members] == [spec.epochs] * spec.seeds  # no valid: all epochs


def test_float16_storage_keeps_values_exactly():
    weights = np.asarray([[0.5, -1.25], [3.0, 0.0]], dtype=np.float16).astype(np.float32)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2])],
        [onnx.numpy_helper.from_array(weights, "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    store_large_weights_as_float16(model, min_elements=4)
    assert model.graph.initializer[0].data_type == onnx.TensorProto.FLOAT16
    x = np.asarray([[1.0, 2.0]], dtype=np.float32)
    got = ort.InferenceSession(model.SerializeToString()).run(["y"], {"x": x})[0]
    np.testing.assert_array_equal(got, x @ weights)


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes and those of its subgraphs (If branches)."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(attribute.g))
    return nodes


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(i for i in model.graph.initializer if i.name == name)


def test_first_layer_gathers_weight_rows_per_ngram_occurrence(youtube_distilled):
    result, _, spec, _ = youtube_distilled
    graph = result.model.graph
    n_features = 2**14
    stored = _initializer(result.model, f"{FIRST_WEIGHT}/float16")
    assert stored.data_type == onnx.TensorProto.FLOAT16  # half the file, values exact (below)
    assert list(stored.dims) == [n_features, spec.seeds * spec.hidden[0]]  # all members at once
    (gather,) = [n for n in graph.node if FIRST_WEIGHT in n.input]
    assert gather.op_type == "Gather"
    # nothing multiplies a [n, 16384] matrix: no Gemm/MatMul reads a weight that large
    nodes = _all_nodes(graph)
    large = {i.name for i in graph.initializer if n_features in i.dims} | {FIRST_WEIGHT}
    for node in nodes:
        if node.op_type in ("Gemm", "MatMul"):
            assert not large.intersection(node.input), node.name
    # the featurizer's dense output is not computed: the only scatters left count n-grams (in
    # int16 or, for very long rows, float32: the two branches of an If)
    assert "features" not in {name for n in nodes for name in n.output}
    assert [n.op_type for n in nodes].count("ScatterElements") == 2
    assert "ScatterElements" not in {n.op_type for n in graph.node}
    # the stored float16 values are the trained weights rounded to float16, exactly
    first = np.concatenate([m.model.first_weight.detach().numpy() for m in result.members], axis=1)
    stored_values = onnx.numpy_helper.to_array(stored).astype(np.float32)
    np.testing.assert_array_equal(stored_values, first.astype(np.float16).astype(np.float32))


def test_rows_do_not_depend_on_the_batch(youtube_distilled):
    result, texts, _, _ = youtube_distilled
    batch = texts[:40] + ["", "x" * 3000, "ÜBER 🙂\n\tok"]
    together = run_onnx(result.model, batch)
    one_by_one = np.concatenate([run_onnx(result.model, [t]) for t in batch])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    assert run_onnx(result.model, []).shape == (0, 2)


def test_length_batches_cover_in_order_within_the_budget():
    rng = np.random.default_rng(0)
    lengths = np.sort(rng.integers(0, 500, size=300))
    lengths[-3:] = [5000, 9000, 20000]  # longer than the budget: one row each
    runs = runtime_session.length_batches(lengths, cells=4096, max_rows=16, row_cells=64)
    assert runs[0][0] == 0 and runs[-1][1] == len(lengths)
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(runs))
    for start, stop in runs:
        assert 1 <= stop - start <= 16
        assert stop - start == 1 or (stop - start) * (lengths[start:stop].max() + 64) <= 4096
    assert runs[-3:] == [(297, 298), (298, 299), (299, 300)]
    unsorted = runtime_session.length_batches([10, 4000, 10, 10], cells=4096, max_rows=16)
    assert unsorted == [(0, 1), (1, 2), (2, 4)]  # a long row in between ends its run
    assert runtime_session.length_batches([]) == []


def test_labeler_batches_by_budget_and_keeps_input_order(youtube_distilled, tmp_path, monkeypatch):
    result, texts, _, _ = youtube_distilled
    (tmp_path / "model.onnx").write_bytes(result.model.SerializeToString())
    (tmp_path / "manifest.json").write_text(json.dumps({
        "classes": ["ham", "spam"], "modality": "text", "input": TEXT.spec,
        "featurizer": HASHING.needs()}))
    rng = np.random.default_rng(0)
    inputs = [texts[i] for i in rng.permutation(len(texts))[:150]] + ["", "long " * 2000]
    inputs = [inputs[i] for i in rng.permutation(len(inputs))]
    runs = []
    original = runtime_session.length_batches

    def small_runs(lengths, **budget):
        these = original(lengths, cells=2048)
        runs.extend(these)
        return these

    monkeypatch.setattr(runtime_session, "length_batches", small_runs)
    proba = runtime_labeler.Labeler(tmp_path, threads=1).predict_proba(inputs)
    assert len(runs) > 5  # several runs, not one per 1024 rows
    one_by_one = np.concatenate([run_onnx(result.model, [t]) for t in inputs])
    np.testing.assert_allclose(proba, one_by_one, atol=1e-6)
    assert runtime_labeler.Labeler(tmp_path).predict_proba([]).shape == (0, 2)
    # the compiler's copy of the model's answers (for the installed-wheel check) agrees
    compiler = result.proba(inputs, 2)
    np.testing.assert_allclose(compiler, proba, atol=1e-6)
    assert result.proba([], 2).shape == (0, 2)


def test_sparse_and_dense_heads_compute_the_ensemble_on_the_features():
    """Occurrence head (hashing) and torch-exported dense head (any featurizer): same function."""
    torch.manual_seed(0)
    featurizer = hashing_featurizer(n_word_features=7, n_char_features=5)  # colliding buckets
    members = [torch.nn.Sequential(torch.nn.Linear(12, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3),
                                   torch.nn.ReLU(), torch.nn.Linear(3, 3)) for _ in range(3)]
    ensemble = Ensemble(members).eval()
    texts = ["good movie", "", "the the the", "ÉCOLE été 🙂\n\tok", "x" * 500]
    features = ort.InferenceSession(featurizer.SerializeToString()).run(
        ["features"], {"input": np.asarray(texts, dtype=object)})[0]
    with torch.no_grad():
        expected = ensemble(torch.from_numpy(features)).numpy()
    sparse = join(featurizer, sparse_ensemble_to_onnx(ensemble, 12, 20, 10), doc="")
    dense_only = only_outputs(featurizer, ["features"])  # a featurizer without occurrences
    dense = join(dense_only, ensemble_to_onnx(ensemble, 12, 20, 10), doc="")
    for model in (sparse, dense):
        np.testing.assert_allclose(run_onnx(model, texts), expected, atol=1e-6)
        assert run_onnx(model, []).shape == (0, 3)
    assert "Gather" in {n.op_type for n in sparse.graph.node}
    assert "ScatterElements" in {n.op_type for n in _all_nodes(dense.graph)}  # dense features


def test_only_outputs_keeps_what_the_outputs_need():
    featurizer = hashing_featurizer()
    pruned = only_outputs(featurizer, ["buckets", "values"])
    assert [o.name for o in pruned.graph.output] == ["buckets", "values"]
    assert len(pruned.graph.node) < len(featurizer.graph.node)
    onnx.checker.check_model(pruned, full_check=True)
    texts = np.asarray(["good movie", "line\none", ""], dtype=object)
    full = ort.InferenceSession(featurizer.SerializeToString()).run(["buckets", "values"],
                                                                   {"input": texts})
    kept = ort.InferenceSession(pruned.SerializeToString()).run(None, {"input": texts})
    for a, b in zip(full, kept):
        np.testing.assert_array_equal(a, b)
