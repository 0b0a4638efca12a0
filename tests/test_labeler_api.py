"""The labeler's Python API (issue #11): abstaining with `threshold`, blank inputs, `explain`
naming both models. Runs the installed youtube labeler in a fresh interpreter."""

from __future__ import annotations

import json

import pytest

from test_compile import IMPORT_NAME, installed, run_installed, youtube_labeler  # noqa: F401

TEXTS = ["check out my channel http://bit.ly/xyz", "love this song so much", "zzz",
         "subscribe to me and I will subscribe back", "the video is ok i guess", "great beat"]


def call(site, code: str) -> dict:
    """Run `code` with `lab` (a Labeler) and `texts` defined; it sets `out`, printed as JSON."""
    program = (f"import json\nimport {IMPORT_NAME} as pkg\nlab = pkg.Labeler()\n"
               f"texts = {TEXTS!r}\nout = {{}}\n{code}\nlab.close()\nprint(json.dumps(out))\n")
    return json.loads(run_installed(site, program))


def test_threshold_abstains_below_it_and_leaves_predict_proba_alone(installed):  # noqa: F811
    out = call(installed, """
proba = lab.predict_proba(texts)
top = sorted(proba.max(axis=1).tolist())
p = (top[2] + top[3]) / 2
out["top"], out["p"] = proba.max(axis=1).tolist(), p
out["plain"] = lab.predict(texts)
out["thresholded"] = lab.predict(texts, threshold=p)
out["module"] = pkg.predict(texts, threshold=p)
out["proba_same"] = lab.predict_and_proba(texts, threshold=p)[1].tolist() == proba.tolist()
out["vote"], out["vote_p"] = lab.vote(texts), lab.vote(texts, threshold=0.999)
out["posterior_top"] = lab.vote_proba(texts).max(axis=1).tolist()
for bad in (1.5, -0.1, float("nan"), "0.5", True):
    try:
        lab.predict(texts, threshold=bad)
        out[repr(bad)] = None
    except (TypeError, ValueError) as err:
        out[repr(bad)] = type(err).__name__
""")
    expected = [label if top >= out["p"] else None for label, top in zip(out["plain"], out["top"])]
    assert out["thresholded"] == expected == out["module"]
    assert expected.count(None) == 3 and None not in out["plain"]
    assert out["proba_same"]
    assert out["vote_p"] == [label if label is not None and top >= 0.999 else None
                             for label, top in zip(out["vote"], out["posterior_top"])]
    assert out["vote_p"] != out["vote"]
    assert [out[k] for k in ("1.5", "-0.1", "nan", "'0.5'", "True")] == [
        "ValueError", "ValueError", "ValueError", "TypeError", "TypeError"]


def test_blank_inputs_abstain_under_any_threshold(installed):  # noqa: F811
    out = call(installed, """
blank = ["", "   ", "\\n\\t", " " * 30000 + "subscribe to my channel"]
out["predict"], out["at_0"] = lab.predict(blank), lab.predict(blank, threshold=0.0)
out["vote"] = lab.vote(blank)
out["proba_rows"] = lab.predict_proba(blank).shape[0]
out["explain"] = lab.explain("")
out["words"] = lab.predict(["  subscribe to my channel  "])
""")
    assert out["predict"] == out["at_0"] == out["vote"] == [None] * 4  # the last is cut at max_chars
    assert out["proba_rows"] == 4
    assert out["explain"]["distilled"]["prediction"] is None
    assert out["explain"]["label_model"]["prediction"] is None
    assert out["words"] == ["spam"]


def test_explain_names_the_models_and_matches_their_methods(installed):  # noqa: F811
    out = call(installed, """
for i, x in enumerate(texts):
    out[i] = {"explain": lab.explain(x), "predict": lab.predict([x])[0], "proba": lab.predict_proba([x])[0].tolist(),
              "vote": lab.vote([x])[0], "posterior": lab.vote_proba([x])[0].tolist(), "votes": lab.votes([x])[0].tolist(),
              "combined": lab.predict([x], programs=True)[0],
              "combined_proba": lab.predict_proba([x], programs=True)[0].tolist()}
try:
    lab.explain(b"check out my channel")
except TypeError as err:
    out["bytes"] = str(err)
out["columns"] = lab.manifest["label_model_columns"]
""")
    classes = ["ham", "spam"]
    abstained = 0
    for i in range(len(TEXTS)):
        case, explained = out[str(i)], out[str(i)]["explain"]
        assert set(explained) == {"distilled", "label_model", "combined", "votes"}
        assert explained["distilled"]["prediction"] == case["predict"]
        assert list(explained["distilled"]["probabilities"].values()) == case["proba"]
        assert explained["label_model"]["prediction"] == case["vote"]
        assert list(explained["label_model"]["posterior"].values()) == case["posterior"]
        assert explained["votes"] == {c: (classes[v] if v >= 0 else None)
                                      for c, v in zip(out["columns"], case["votes"])}
        assert explained["combined"]["prediction"] == case["combined"]
        assert list(explained["combined"]["probabilities"].values()) == case["combined_proba"]
        if all(v == -1 for v in case["votes"]):
            abstained += 1
            assert explained["label_model"]["prediction"] is None
            assert explained["distilled"]["prediction"] in classes
            assert case["combined_proba"] == pytest.approx(case["proba"])
        else:
            assert case["combined_proba"] == pytest.approx(
                [(a + b) / 2 for a, b in zip(case["proba"], case["posterior"])])
    assert abstained >= 1
    assert out["bytes"] == "the input is bytes, expected str"
