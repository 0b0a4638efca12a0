"""The ONNX hashing featurizer against a pure-Python reference of the same design."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from alchemist_compiler.featurizers.hashing import (
    BUCKETS_NAME,
    FEATURIZER_OPSET,
    INPUT_NAME,
    MICROSOFT_OPSET,
    OUTPUT_NAME,
    VALUES_NAME,
    hashing_featurizer,
)

N_WORD = 2**13
N_CHAR = 2**13
LONG_TEXT = ("Lorem ipsum dolor sit amet, Ünïcödé 😀 text.\n" * 200)[:5000]
SAMPLES = [
    "good movie",
    "Good MOVIE!!",
    "Café über naïve résumé",
    "日本語のテキストです 😀🎉 ok",
    "line one\nline\ttwo\r\nend",
    "a",
    "   ",
    "the the the the movie",
    "e\u0301te\u0301\u00a0\u2028x\u3000y\x00z\x1f \v\f!",  # combining marks, odd spaces, controls
    LONG_TEXT,
]


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32, unsigned."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    n_blocks = len(data) // 4
    for i in range(n_blocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[4 * n_blocks :]
    if tail:
        k = (int.from_bytes(tail, "little") * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def _is_word_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def _is_whitespace(ch: str) -> bool:
    return ch in "\t\n\v\f\r " or unicodedata.category(ch).startswith("Z")


def _words(text: str) -> list[str]:
    words, current = [], ""
    for ch in text + " ":
        if _is_word_char(ch):
            current += ch
            continue
        if len(current) >= 2:
            words.append(current)
        current = ""
    return words


def _ngrams(tokens: list[str] | str, ngram_range: tuple[int, int], sep: str) -> list[str]:
    low, high = ngram_range
    return [
        sep.join(tokens[i : i + n])
        for n in range(low, high + 1)
        for i in range(len(tokens) - n + 1)
    ]


def _bucket(gram: str, n_buckets: int) -> int:
    return murmurhash3_32(gram.encode("utf-8")) % n_buckets


def _log1p_block(grams: list[str], n_buckets: int) -> np.ndarray:
    block = np.zeros(n_buckets)
    for bucket, count in Counter(_bucket(gram, n_buckets) for gram in grams).items():
        block[bucket] = math.log1p(count)
    return block


def reference_features(
    text: str,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 4),
    n_word: int = N_WORD,
    n_char: int = N_CHAR,
) -> np.ndarray:
    """The documented featurization, one string at a time."""
    text = text.lower()
    chars = "".join(" " if _is_whitespace(ch) else ch for ch in text)
    chars = f" {chars} " if chars else chars
    blocks = [
        _log1p_block(_ngrams(_words(text), word_ngrams, " "), n_word),
        _log1p_block(_ngrams(chars, char_ngrams, ""), n_char),
    ]
    norms = [np.linalg.norm(block) for block in blocks]
    n_non_empty = max(sum(norm > 0 for norm in norms), 1)
    return np.concatenate(
        [block / max(norm, 1e-12) / math.sqrt(n_non_empty) for block, norm in zip(blocks, norms)]
    )


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@pytest.fixture(scope="module")
def featurize():
    session = _session(hashing_featurizer())

    def run(texts: list[str]) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: np.array(texts, dtype=object)})[0]

    return run


def test_murmurhash_reference_matches_known_values():
    assert murmurhash3_32(b"") == 0
    assert murmurhash3_32(b"hello") == 613153351
    assert murmurhash3_32(b"The quick brown fox jumps over the lazy dog") == 776992547


def test_model_is_valid_deterministic_and_declares_its_io():
    model = hashing_featurizer()
    onnx.checker.check_model(model, full_check=True)  # runs strict shape inference too
    assert model.SerializeToString() == hashing_featurizer().SerializeToString()
    assert {(o.domain, o.version) for o in model.opset_import} == {
        ("", FEATURIZER_OPSET),
        ("com.microsoft", MICROSOFT_OPSET),
    }
    (inp,), (out, buckets, values) = model.graph.input, model.graph.output
    assert (inp.name, inp.type.tensor_type.elem_type) == (INPUT_NAME, onnx.TensorProto.STRING)
    assert (out.name, out.type.tensor_type.elem_type) == (OUTPUT_NAME, onnx.TensorProto.FLOAT)
    assert out.type.tensor_type.shape.dim[1].dim_value == N_WORD + N_CHAR
    assert (buckets.name, buckets.type.tensor_type.elem_type) == (BUCKETS_NAME, onnx.TensorProto.INT64)
    assert (values.name, values.type.tensor_type.elem_type) == (VALUES_NAME, onnx.TensorProto.FLOAT)


def test_occurrence_outputs_add_up_to_the_features():
    session = _session(hashing_featurizer())
    texts = SAMPLES + ["", "ok"]
    features, buckets, values = session.run(
        [OUTPUT_NAME, BUCKETS_NAME, VALUES_NAME], {INPUT_NAME: np.array(texts, dtype=object)}
    )
    assert buckets.shape == values.shape and buckets.shape[0] == len(texts)
    assert buckets.min() >= 0 and buckets.max() < N_WORD + N_CHAR
    summed = np.zeros_like(features)
    np.add.at(summed, (np.arange(len(texts))[:, None], buckets), values)
    np.testing.assert_allclose(summed, features, atol=1e-7)
    # occurrences of "ok": " o", "ok", "k ", " ok", "ok ", " ok " and the word; the rest is padding
    assert np.count_nonzero(values[-1]) == 7 and not values[-2].any()
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((N_WORD + N_CHAR, 3)).astype(np.float32)
    first_layer = (values[:, :, None] * weights[buckets]).sum(axis=1)
    np.testing.assert_allclose(first_layer, features @ weights, atol=1e-5)


def test_good_movie_hits_exactly_its_ngram_buckets(featurize):
    (row,) = featurize(["good movie"])
    words, chars = row[:N_WORD], row[N_WORD:]
    expected_words = {_bucket(g, N_WORD) for g in ["good", "movie", "good movie"]}
    padded = " good movie "
    expected_chars = {_bucket(g, N_CHAR) for g in _ngrams(padded, (2, 4), "")}
    assert set(np.flatnonzero(words)) == expected_words
    assert set(np.flatnonzero(chars)) == expected_chars
    assert len(expected_chars) == 11 + 10 + 9  # no collisions among the 30 char n-grams
    assert np.linalg.norm(words) == pytest.approx(1 / math.sqrt(2), abs=1e-6)
    assert np.linalg.norm(chars) == pytest.approx(1 / math.sqrt(2), abs=1e-6)


def test_matches_reference_with_default_buckets(featurize):
    features = featurize(SAMPLES)
    expected = np.stack([reference_features(text) for text in SAMPLES])
    np.testing.assert_allclose(features, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_matches_reference_with_tiny_colliding_buckets_and_other_ranges():
    ranges = {"word_ngrams": (1, 3), "char_ngrams": (1, 2)}
    model = hashing_featurizer(**ranges, n_word_features=7, n_char_features=5)
    features = _session(model).run(None, {INPUT_NAME: np.array(SAMPLES, dtype=object)})[0]
    assert features.shape == (len(SAMPLES), 12)
    expected = np.stack(
        [reference_features(text, **ranges, n_word=7, n_char=5) for text in SAMPLES]
    )
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_case_changes_do_not_matter_but_words_do(featurize):
    lower, upper, other = featurize(["good movie", "GOOD Movie", "bad movie"])
    np.testing.assert_array_equal(lower, upper)
    assert not np.allclose(lower, other)
    assert 0 < lower @ other < 1


def test_whitespace_kinds_are_interchangeable(featurize):
    space, newline, tab = featurize(["good movie", "good\nmovie", "good\tmovie"])
    np.testing.assert_array_equal(space, newline)
    np.testing.assert_array_equal(space, tab)


OTHER_WHITESPACE = "\t\n\v\f\r\u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"


@pytest.mark.parametrize("space", list(OTHER_WHITESPACE))
def test_every_whitespace_becomes_a_space_in_any_batch(featurize, space):
    """Batches without other whitespace than spaces skip the per-character mapping: a batch
    with one such character in one row must still map it, and only it."""
    text = f"good{space}movie{space * 2}!"
    alone, = featurize([text])
    with_clean, clean = featurize([text, "good movie  !"])
    np.testing.assert_array_equal(alone, clean)
    np.testing.assert_array_equal(with_clean, clean)
    np.testing.assert_allclose(clean, reference_features("good movie  !"), atol=1e-6)
    assert not np.array_equal(featurize(["good\u200bmovie  !"])[0], clean)  # not whitespace


def test_counts_past_the_int16_range_are_exact():
    """Batches with 2**15 or more n-gram occurrences per row count in float32, not int16."""
    long_run = "a" * 33_000  # the char bigram "aa" occurs 32,999 times
    buckets, values = _session(hashing_featurizer()).run(
        [BUCKETS_NAME, VALUES_NAME], {INPUT_NAME: np.array(["ok", long_run], dtype=object)}
    )
    # Summed in float64 and divided by the value of " a" (count 1): float32 sums over 99,000
    # occurrences (the "features" output, the norm) err by more than one count changes.
    summed = np.zeros((2, N_WORD + N_CHAR))
    np.add.at(summed, (np.arange(2)[:, None], buckets), values.astype(np.float64))
    expected = reference_features(long_run)
    once = N_WORD + _bucket(" a", N_CHAR)
    chars = slice(N_WORD, None)  # one norm
    np.testing.assert_allclose(
        summed[1, chars] / summed[1, once], expected[chars] / expected[once], rtol=1e-6
    )
    np.testing.assert_allclose(summed[1], expected, rtol=1e-4)
    np.testing.assert_allclose(summed[0], reference_features("ok"), rtol=1e-6, atol=1e-9)


def test_text_without_words_uses_only_char_block(featurize):
    emoji, single_letter = featurize(["😀🎉", "a"])
    for row in (emoji, single_letter):
        assert not row[:N_WORD].any()
        assert np.linalg.norm(row[N_WORD:]) == pytest.approx(1.0, abs=1e-6)


def test_rows_do_not_depend_on_batch_composition(featurize):
    batch = featurize(SAMPLES + [""])
    for i, text in enumerate(SAMPLES + [""]):
        np.testing.assert_allclose(featurize([text])[0], batch[i], atol=1e-6)
    np.testing.assert_allclose(featurize(SAMPLES[::-1]), batch[-2::-1], atol=1e-6)


def test_all_empty_batch_gives_zero_rows(featurize):
    features = featurize(["", "", ""])
    assert features.shape == (3, N_WORD + N_CHAR)
    assert not features.any()


def test_one_empty_string_among_others(featurize):
    features = featurize(["good movie", "", "bad movie"])
    assert not features[1].any()
    np.testing.assert_allclose(np.linalg.norm(features[[0, 2]], axis=1), 1.0, atol=1e-6)


def test_zero_rows(featurize):
    features = featurize([])
    assert features.shape == (0, N_WORD + N_CHAR)
    assert features.dtype == np.float32


def test_long_string_among_short_ones(featurize):
    features = featurize(["ok", LONG_TEXT, "good movie"])
    assert features.dtype == np.float32
    np.testing.assert_allclose(features[1], reference_features(LONG_TEXT), atol=1e-5)
    np.testing.assert_allclose(features[2], featurize(["good movie"])[0], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"word_ngrams": (0, 2)},
        {"char_ngrams": (3, 2)},
        {"n_word_features": 0},
        {"n_char_features": -1},
    ],
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        hashing_featurizer(**kwargs)
