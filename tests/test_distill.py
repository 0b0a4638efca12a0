"""Stage 9: MLP ensemble on soft labels -> one ONNX graph from raw text; parity with torch."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import example_split

from alchemist_compiler.distill import distill, features_of
from alchemist_compiler.distill.export import store_large_weights_as_float16
from alchemist_compiler.label_model import fit_label_model
from alchemist_compiler.modality import get_modality
from alchemist_compiler.task import DistillSpec
from alchemist_runtime.label_model import covered, predict_proba


@pytest.fixture(scope="module")
def youtube_distilled():
    train, valid = example_split("youtube", "train"), example_split("youtube", "valid")
    L = np.asarray([r["weak_labels"] for r in train], dtype=np.int8)
    y_valid = np.asarray([r["label"] for r in valid])
    params = fit_label_model("snorkel", L, 2, valid_labels=y_valid, seed=0)
    rows = np.flatnonzero(covered(L))
    texts = [train[i]["text"] for i in rows]
    spec = DistillSpec(seeds=2, epochs=8)
    result = distill(get_modality("text"), spec, texts, predict_proba(params, L)[rows], seed=0,
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
    featurizer = get_modality("text").featurizer(spec)
    dense = torch.from_numpy(features_of(get_modality("text"), featurizer, texts[:200]).dense())
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
    again = distill(get_modality("text"), spec, texts, soft, seed=0,
                    valid_inputs=None, valid_labels=None)
    once_more = distill(get_modality("text"), spec, texts, soft, seed=0,
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
