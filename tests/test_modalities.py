"""The modality seam, unit by unit: the runtime's input rules, the featurizer graphs, the registries."""

from __future__ import annotations

import math
import re

import numpy as np
import onnxruntime as ort
import pytest
from alchemist_runtime.label_model import PREDICTORS
from alchemist_runtime.modalities import MODALITIES as RUNTIME_MODALITIES
from alchemist_runtime.modalities.tabular import TabularInput
from alchemist_runtime.modalities.text import TextInput
from alchemist_runtime.modalities.timeseries import WindowInput
from conftest import base_task, write_task

from alchemist_compiler.errors import TaskError
from alchemist_compiler.featurizers import FEATURIZERS, get_featurizer
from alchemist_compiler.featurizers import window as window_featurizer
from alchemist_compiler.label_model import KINDS
from alchemist_compiler.modality import MODALITIES as COMPILER_MODALITIES
from alchemist_compiler.task import load_task

TEXT = TextInput({"column": "text", "max_chars": 10})
TABLE = TabularInput({
    "columns": [{"name": "age", "type": "numeric"},
                {"name": "city", "type": "categorical", "categories": ["Paris", "Lyon"]}],
    "missing": ["?"],
})
WINDOW = WindowInput({"length": 4, "columns": ["x0", "x1", "x2", "x3"], "field": None,
                      "rate_hz": None, "units": None})


def run(graph, model_input: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["features"], {"input": model_input})[0]


# -- registries ---------------------------------------------------------------------------------

def test_every_modality_has_both_sides_and_a_default_featurizer_of_its_own():
    assert set(COMPILER_MODALITIES) == set(RUNTIME_MODALITIES)
    for name, modality in COMPILER_MODALITIES.items():
        assert modality.runtime is RUNTIME_MODALITIES[name]
        assert FEATURIZERS[modality.default_featurizer].modality == name


def test_every_fitted_label_model_kind_has_a_runtime_predictor():
    assert set(KINDS) - {"auto"} == set(PREDICTORS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modality": "audio"}, "modality: 'audio' is not supported; use one of ['text', "),
        ({"distill": {"features": "window"}}, ("'window' reads timeseries inputs; a text task "
                                               "takes one of ['hashing', 'minilm'")),
        ({"distill": {"features": "tfidf"}}, "'tfidf' is not a featurizer"),
        ({"label_model": {"kind": "magic"}}, "label_model.kind: 'magic' is not a label model"),
    ],
)
def test_task_validates_against_the_registries(task_dir, change, message):
    with pytest.raises(TaskError, match=re.escape(message)):
        load_task(write_task(task_dir, base_task(**change)))


def test_the_featurizer_defaults_to_the_modalitys(task_dir):
    assert load_task(task_dir / "task.yaml").featurizer == "hashing"
    task = load_task(write_task(task_dir, base_task(distill={"features": "minilm"})))
    assert task.featurizer == "minilm"


# -- text ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bare", ["one text", b"bytes", {"text": "a dict"}])
def test_text_batch_refuses_a_single_input(bare):
    with pytest.raises(TypeError, match="expected a batch"):
        TEXT.batch(bare)


@pytest.mark.parametrize(("value", "kind"), [(None, "NoneType"), (3, "int"), (2.5, "float"),
                                             ({"a": 1}, "dict"), (b"x", "bytes")])
def test_text_inputs_must_be_strings_named_by_index(value, kind):
    with pytest.raises(TypeError, match=f"input 1 is {kind}, expected str"):
        TEXT.batch(["fine", value])


def test_text_lone_surrogates_are_replaced_and_inputs_cut_to_max_chars():
    assert TEXT.batch(["a\ud800b\udfffc", "x" * 50, "é🙂"]) == ["a\ufffdb\ufffdc", "x" * 10, "é🙂"]
    assert TEXT.one("\udc80" * 3) == "\ufffd" * 3


# -- tabular ------------------------------------------------------------------------------------

def test_tabular_values_become_float_str_or_none():
    rows = TABLE.batch([
        {"age": 39, "city": "Paris", "id": 7},  # an extra column is ignored
        {"age": "41.5", "city": 12},  # numeric string; a number in a categorical column
        {"age": "?", "city": "?"},  # data.missing
        {"age": "", "city": None},
        {"age": float("nan"), "city": "Nice"},  # NaN is missing; an unseen category is kept
        {"age": -math.inf, "city": 2.0},
    ])
    assert rows == [{"age": 39.0, "city": "Paris"}, {"age": 41.5, "city": "12"},
                    {"age": None, "city": None}, {"age": None, "city": None},
                    {"age": None, "city": "Nice"}, {"age": None, "city": "2"}]
    assert all(type(r["age"]) is float for r in rows if r["age"] is not None)


@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        ({"city": "Paris"}, ValueError, "input 0: no column 'age'"),
        ({"age": "forty", "city": "Paris"}, ValueError, "input 0: column 'age' is numeric, got 'forty'"),
        ({"age": [1], "city": "Paris"}, TypeError, "input 0: column 'age' is numeric, got list"),
        ({"age": 1, "city": ["Paris"]}, TypeError, "column 'city' is categorical, got list"),
        ("age=3", TypeError, "input 0 is str, expected a dict"),
    ],
)
def test_tabular_bad_rows_are_named(row, error, message):
    with pytest.raises(error, match=message):
        TABLE.batch([row])


def test_tabular_model_input_codes_categories():
    values = TABLE.batch([{"age": 1, "city": "Lyon"}, {"age": None, "city": "Nice"},
                          {"age": 2, "city": None}])
    np.testing.assert_array_equal(TABLE.model_input(values),
                                  np.array([[1, 1], [np.nan, -1], [2, np.nan]], dtype=np.float32))


def test_tabular_featurizer_standardizes_flags_missing_and_one_hots():
    X = TABLE.model_input(TABLE.batch([{"age": 20, "city": "Paris"}, {"age": 40, "city": "Lyon"},
                                       {"age": None, "city": "Nice"}, {"age": 30, "city": None}]))
    featurizer = get_featurizer("tabular")
    params = featurizer.fit(TABLE.spec, X)
    assert params["mean"] == [30.0] and params["sizes"] == [2]
    features = run(featurizer.build(params), X)
    std = np.std([20.0, 40.0, 30.0])
    expected = np.array([
        # age (standardized), missing flags (age, city), city: unknown, Paris, Lyon
        [-10 / std, 0, 0, 0, 1, 0],
        [10 / std, 0, 0, 0, 0, 1],
        [0, 1, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 0],
    ], dtype=np.float32)
    np.testing.assert_allclose(features, expected, atol=1e-6)


# -- time series --------------------------------------------------------------------------------

def test_windows_from_lists_rows_and_arrays_agree():
    as_list = WINDOW.batch([[1, 2, 3, 4], (0.5, "1.5", 2, 3)])
    as_rows = WINDOW.batch([{"x0": 1, "x1": 2, "x2": 3, "x3": 4, "label": 0},
                            {"x0": "0.5", "x1": "1.5", "x2": "2", "x3": "3"}])
    as_array = WINDOW.batch(np.array([[1, 2, 3, 4], [0.5, 1.5, 2, 3]]))
    assert as_list == as_rows == as_array == [[1.0, 2.0, 3.0, 4.0], [0.5, 1.5, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("batch", "error", "message"),
    [
        ([[1, 2, 3]], ValueError, "input 0: window has 3 values, expected 4"),
        ([[1, 2, 3, 4], [1, 2, float("nan"), 4]], ValueError, "input 1: value 2 is nan"),
        ([[1, 2, math.inf, 4]], ValueError, "input 0: value 2 is inf"),
        ([[1, 2, "x", 4]], ValueError, "input 0: value 2 is 'x', not a number"),
        ([[1, 2, None, 4]], TypeError, "input 0: value 2 is NoneType, not a number"),
        ([{"x0": 1, "x1": 2, "x2": 3}], ValueError, "input 0: no column 'x3'"),
        (["1,2,3,4"], TypeError, "input 0 is str, expected a window"),
        ([1.0, 2.0, 3.0, 4.0], TypeError, "input 0 is float, expected a window"),
        (np.ones((2, 5)), ValueError, "windows have 5 values, expected 4"),
        (np.array([[1, 2, np.inf, 4]]), ValueError, "input 0: value 2 is inf"),
    ],
)
def test_bad_windows_are_named(batch, error, message):
    with pytest.raises(error, match=message):
        WINDOW.batch(batch)


def test_window_featurizer_matches_its_numpy_definition():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 252)).astype(np.float32)
    X[0] = 0.0  # a flat window: its shape is 0, not NaN
    spec = {"length": 252}
    featurizer = get_featurizer("window")
    params = featurizer.fit(spec, X)
    features = run(featurizer.build(params), X)
    expected = (window_featurizer.raw_features(X) - params["mean"]) / params["std"]
    assert features.shape == (50, window_featurizer.POINTS + window_featurizer.STATISTICS)
    np.testing.assert_allclose(features, expected, atol=2e-4)
    assert np.isfinite(features).all()


def test_featurizers_sit_below_the_modalities():
    """No package cycle: featurizers never import a modality; modalities (which name their
    featurizers) never import distill or the pipeline."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "alchemist_compiler"

    def imported(folder: str) -> set[str]:
        names = set()
        for path in (package / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level:
                    names.add((node.module or "").split(".")[0])
        return names

    assert not imported("featurizers") & {"modality", "distill", "pipeline"}
    assert not imported("modality") & {"distill", "pipeline"}
