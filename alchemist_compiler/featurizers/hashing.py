"""ONNX graph that turns raw strings into hashed bag-of-n-gram features.

The featurizer lives inside the ONNX model so the emitted labeler goes from raw string to
probabilities in one graph that needs only onnxruntime. Per row:

1. Lowercase (StringNormalizer, locale C.UTF-8, so non-ASCII letters are lowercased too).
2. Word n-grams: tokens are runs of 2+ letters/marks/digits/underscores (Unicode-aware, like
   scikit-learn's ``\\w\\w+``); n-grams join consecutive tokens with one space.
3. Char n-grams over the whole lowercased string (scikit-learn's ``analyzer="char"``, not
   ``char_wb``) after every whitespace character becomes a space and a non-empty string gains
   one space at each end, so n-grams can mark where the text starts and ends. Whitespace runs
   are kept, so a whitespace-only string is not featurized as empty.
4. Each n-gram's UTF-8 bytes are hashed (MurmurHash3 x86_32, seed 0, unsigned; the same
   value as scikit-learn's ``murmurhash3_32(s, positive=True)``) modulo its family's bucket
   count; char buckets follow the word buckets.
5. Counts become ``log(1 + count)``; each family is L2-normalized on its own, then the row is
   scaled so its L2 norm is 1: each non-empty family gets an equal share, so the many char
   n-grams do not drown the few word n-grams. An empty string gives an all-zero row.

Only a zero fill and two scatters touch a dense [N, D] table: one ScatterElements counts
occurrences per bucket (in int16 when no row has 2**15 occurrences: half the bytes); every
occurrence reads its count back (GatherElements); a second scatter adds each occurrence's share
``log(1 + c) / c``, already divided by its row's norm, into the "features" output. Norms are
summed over occurrences, not over the dense matrix.

The same features are also output per occurrence, before that last scatter: "buckets" (int64
[N, T]) and "values" (float32 [N, T]), with ``features[r, buckets[r, t]] += values[r, t]`` over t.
Padded positions have value 0 (and some valid bucket). A consumer that is linear in the features
(the distilled model's first layer) can read these instead: ``features @ W`` equals
``sum over t of values[:, t, None] * W[buckets[:, t]]`` at the cost of the occurrences, not of D.

Tokenizer pads ragged rows with ``_PAD``, which no token can equal (every char token is one
character, every word token has no control characters); n-grams touching a pad add 0.
ONNX Runtime's StringNormalizer rejects a 0-row input, so the graph appends one empty sentinel
row (no tokens, so no n-grams) and drops it again once n-grams are hashed, where dropping a row
copies numbers instead of strings; 0-row batches therefore work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURIZER_OPSET = 20  # ai.onnx; StringConcat and RegexFullMatch need >= 20
MICROSOFT_OPSET = 1  # com.microsoft: Tokenizer, MurmurHash3
FEATURIZER_IR_VERSION = 10
INPUT_NAME = "input"
OUTPUT_NAME = "features"
BUCKETS_NAME = "buckets"  # the same features per n-gram occurrence: column ...
VALUES_NAME = "values"  # ... and value (0 at padded positions)

_WORD_TOKEN = r"[\p{L}\p{M}\p{N}_]{2,}"
_WHITESPACE = r"[\s\v\p{Z}]"
_SPACE_OR_NOT_WHITESPACE = r"(?s)(?:[^\s\v\p{Z}]| )*"  # a whole row without other whitespace
_PAD = "\x01\x01"  # two characters, no letters: equals no char token and no word token
_NORM_FLOOR = 1e-12


class _GraphBuilder:
    """Accumulates nodes and initializers; tensor names are unique, stable and prefixed."""

    def __init__(self, parent: _GraphBuilder | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.value_info: list[onnx.ValueInfoProto] = []
        # a branch (If subgraph) shares its parent's names and constants (outer scope)
        self.initializers: list[onnx.TensorProto] = parent.initializers if parent else []
        self._parent = parent
        self._count = 0

    def _fresh(self, hint: str) -> str:
        if self._parent is not None:
            return self._parent._fresh(hint)
        self._count += 1
        return f"featurizer/{hint}_{self._count}"

    def if_op(
        self, cond: str, branch: Callable[[_GraphBuilder, bool], list[str]], types: list[int]
    ) -> list[str]:
        """If(cond): outputs of branch(builder, True), else of branch(builder, False).

        Every output is 2-D, of the given element types (declared, for shape inference)."""
        graphs = []
        for taken in (True, False):
            b = _GraphBuilder(parent=self)
            outputs = branch(b, taken)
            graphs.append(helper.make_graph(
                b.nodes, self._fresh("branch"), [],
                [helper.make_tensor_value_info(o, t, [None, None]) for o, t in zip(outputs, types)],
                value_info=b.value_info,
            ))
        outputs = [self._fresh("if") for _ in types]
        self.nodes.append(helper.make_node(
            "If", [cond], outputs, name=outputs[0], then_branch=graphs[0], else_branch=graphs[1]
        ))
        self.value_info.extend(
            helper.make_tensor_value_info(o, t, [None, None]) for o, t in zip(outputs, types)
        )
        return outputs

    def op(self, op_type: str, *inputs: str, domain: str = "", **attrs: object) -> str:
        output = self._fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=output, domain=domain, **attrs)
        )
        return output

    def contrib_op(
        self, op_type: str, *inputs: str, elem_type: int, rank: int, **attrs: object
    ) -> str:
        """Add a com.microsoft op and declare its output's type.

        ONNX shape inference does not know these ops, and RegexFullMatch's shape inference
        segfaults (onnx 1.23.2) when its input has no type.
        """
        output = self.op(op_type, *inputs, domain="com.microsoft", **attrs)
        self.value_info.append(helper.make_tensor_value_info(output, elem_type, [None] * rank))
        return output

    def const(self, value: object, dtype: type | None = None) -> str:
        name = self._fresh("const")
        array = np.array(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name


def _text_with_sentinel_row(g: _GraphBuilder, text: str) -> str:
    """Append one empty string so no string op ever sees a 0-row batch."""
    return g.op("Concat", text, g.const([""], dtype=object), axis=0)


def _lowercase(g: _GraphBuilder, text: str) -> str:
    return g.op("StringNormalizer", text, case_change_action="LOWER", locale="C.UTF-8")


def _padded_with_spaces(g: _GraphBuilder, text: str) -> str:
    """Add one space at each end of non-empty strings; empty strings stay empty."""
    space = g.const(" ", dtype=object)
    padded = g.op("StringConcat", g.op("StringConcat", space, text), space)
    is_empty = g.op("Equal", text, g.const("", dtype=object))
    return g.op("Where", is_empty, text, padded)


def _tokens(g: _GraphBuilder, text: str, **split: object) -> tuple[str, str]:
    """Tokens per row ([N + 1, T], pad-filled, sentinel row kept) and which are real.

    `split` is Tokenizer's: ``tokenexp=`` a regex that tokens match, or ``separators=[""]``,
    its character mode: every code point (whitespace and controls included) is one token, as
    with ``tokenexp="(?s)."`` but several times faster.
    """
    tokens = g.contrib_op(
        "Tokenizer",
        text,
        elem_type=TensorProto.STRING,
        rank=2,
        mark=0,
        mincharnum=1,
        pad_value=_PAD,
        **split,
    )
    is_real = g.op("Not", g.op("Equal", tokens, g.const(_PAD, dtype=object)))
    return tokens, is_real


def _spaces_for_whitespace(g: _GraphBuilder, chars: str) -> str:
    is_whitespace = g.op("RegexFullMatch", chars, pattern=_WHITESPACE)
    return g.op("Where", is_whitespace, g.const(" ", dtype=object), chars)


def _has_other_whitespace(g: _GraphBuilder, text: str) -> str:
    """Scalar bool: some row has a whitespace character other than the space."""
    plain = g.op("RegexFullMatch", text, pattern=_SPACE_OR_NOT_WHITESPACE)
    other = g.op("Cast", g.op("Not", plain), to=TensorProto.INT32)
    return g.op("Cast", g.op("ReduceMax", other, keepdims=0), to=TensorProto.BOOL)


def _columns(g: _GraphBuilder, tensor: str, start: int, stop_from_end: int) -> str:
    """tensor[:, start : T - stop_from_end] (empty when T is too small)."""
    end = -stop_from_end if stop_from_end else np.iinfo(np.int64).max
    return g.op(
        "Slice",
        tensor,
        g.const([start], dtype=np.int64),
        g.const([end], dtype=np.int64),
        g.const([1], dtype=np.int64),
    )


def _ngrams(
    g: _GraphBuilder, tokens: str, is_real: str, ngram_range: tuple[int, int], sep: str
) -> list[tuple[str, str]]:
    """For each order n in ngram_range: its n-grams ([N, T - n + 1]) and which contain no pad.

    Order n extends order n - 1 (``grams[:, :-1] + sep + tokens[:, n - 1:]``), so each order
    costs one concatenation. Pads only trail real tokens: an n-gram is real iff its last token is.
    """
    low, high = ngram_range
    separator = g.const(sep, dtype=object) if sep and high > 1 else None
    grams, by_order = tokens, []
    for n in range(1, high + 1):
        if n > 1:
            prefix = _columns(g, grams, 0, 1)
            if separator:
                prefix = g.op("StringConcat", prefix, separator)
            grams = g.op("StringConcat", prefix, _columns(g, tokens, n - 1, 0))
        if n >= low:
            by_order.append((grams, _columns(g, is_real, n - 1, 0)))
    return by_order


def _hashes(g: _GraphBuilder, grams: str) -> str:
    return g.contrib_op(
        "MurmurHash3", grams, elem_type=TensorProto.UINT32, rank=2, positive=1, seed=0
    )


def _concat_columns(g: _GraphBuilder, tensors: list[str]) -> str:
    return tensors[0] if len(tensors) == 1 else g.op("Concat", *tensors, axis=1)


def _family_occurrences(
    g: _GraphBuilder,
    tokens: str,
    is_real: str,
    ngram_range: tuple[int, int],
    sep: str,
    n_buckets: int,
    offset: int,
    n_rows: str,
) -> tuple[str, str]:
    """Output column of every n-gram occurrence ([N, K] int64) and 1.0 where it is real.

    The orders' hashes are concatenated first, so the bucket arithmetic runs once per family;
    the sentinel row is dropped here, from numbers rather than from string tensors.
    """
    hashes, masks = [], []
    for grams, gram_is_real in _ngrams(g, tokens, is_real, ngram_range, sep):
        hashes.append(_hashes(g, grams))
        masks.append(gram_is_real)
    first_rows = (g.const([0], np.int64), n_rows, g.const([0], np.int64))
    hashes = g.op("Slice", _concat_columns(g, hashes), *first_rows)
    masks = g.op("Slice", _concat_columns(g, masks), *first_rows)
    buckets = g.op("Mod", g.op("Cast", hashes, to=TensorProto.INT64), g.const(n_buckets, np.int64))
    if offset:
        buckets = g.op("Add", buckets, g.const(offset, np.int64))
    return buckets, g.op("Cast", masks, to=TensorProto.FLOAT)


def _scatter_add(g: _GraphBuilder, zeros: str, columns: str, values: str) -> str:
    return g.op("ScatterElements", zeros, columns, values, axis=1, reduction="add")


def _zeros(
    g: _GraphBuilder, n_rows: str, n_columns: int, elem_type: int = TensorProto.FLOAT
) -> str:
    shape = g.op("Concat", n_rows, g.const([n_columns], dtype=np.int64), axis=0)
    return g.op("ConstantOfShape", shape, value=helper.make_tensor("", elem_type, [1], [0]))


def _occurrence_counts(
    g: _GraphBuilder, n_rows: str, n_columns: int, columns: str, masks: str, families: list
) -> list[str]:
    """Per family, each occurrence's count: how many real occurrences of its row hit its column
    ([N, K] float32), counted in a dense [N, D] table. The table is int16 (half the bytes to
    fill and copy) when no row can reach 2**15 occurrences, else float32."""
    n_occurrences = g.op("Shape", columns, start=1, end=2)  # [1]: T, all families
    small = g.op("Less", n_occurrences, g.const([2**15], dtype=np.int64))

    def count(b: _GraphBuilder, int16: bool) -> list[str]:
        elem_type = TensorProto.INT16 if int16 else TensorProto.FLOAT
        hits = b.op("Cast", masks, to=elem_type) if int16 else masks
        table = _scatter_add(b, _zeros(b, n_rows, n_columns, elem_type), columns, hits)
        counts = [b.op("GatherElements", table, family, axis=1) for family, _ in families]
        return [b.op("Cast", c, to=TensorProto.FLOAT) for c in counts] if int16 else counts

    return g.if_op(small, count, [TensorProto.FLOAT] * len(families))


def _log1p_shares(g: _GraphBuilder, count: str, mask: str) -> tuple[str, str]:
    """Each occurrence's share log(1 + c) / c of its column's value, and log(1 + c) itself.

    A column hit by c real occurrences then sums to log(1 + c), without touching the dense
    [N, D] matrix again. Masked occurrences get share 0.
    """
    log1p = g.op("Log", g.op("Add", count, g.const(1.0, dtype=np.float32)))
    share = g.op("Div", log1p, g.op("Max", count, g.const(1.0, dtype=np.float32)))
    return g.op("Mul", share, mask), log1p


def _l2_norm_of_family(g: _GraphBuilder, share: str, log1p: str) -> str:
    """Row L2 norm of the family's log(1 + count) values: sum over occurrences of share * log1p."""
    squares = g.op("ReduceSum", g.op("Mul", share, log1p), g.const([1], np.int64), keepdims=1)
    return g.op("Sqrt", squares)


def _balanced_divisors(g: _GraphBuilder, norms: list[str]) -> list[str]:
    """Per-family [N, 1] divisors: max(norm, floor) * sqrt(number of non-empty families).

    Dividing by them gives every non-empty family the same norm and the row norm 1.
    """
    floor = g.const(_NORM_FLOOR, dtype=np.float32)
    non_empty = [g.op("Cast", g.op("Greater", norm, floor), to=TensorProto.FLOAT) for norm in norms]
    n_non_empty = g.op("Max", g.op("Sum", *non_empty), g.const(1.0, dtype=np.float32))
    row_scale = g.op("Sqrt", n_non_empty)
    return [g.op("Mul", g.op("Max", norm, floor), row_scale) for norm in norms]


def _check_ngram_range(name: str, ngram_range: tuple[int, int]) -> None:
    low, high = ngram_range
    if not 1 <= low <= high:
        raise ValueError(f"{name} must satisfy 1 <= min <= max, got {ngram_range}")


def hashing_featurizer(
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 4),
    n_word_features: int = 2**13,
    n_char_features: int = 2**13,
) -> onnx.ModelProto:
    """Graph: input "input" (string, shape [N]) -> outputs "features", "buckets", "values".

    "features" is float32 with shape [N, n_word_features + n_char_features]: word-n-gram
    buckets first, then char-n-gram buckets. Each row has L2 norm 1 (0 for an empty string).
    "buckets" (int64) and "values" (float32), both [N, T], are the same features per n-gram
    occurrence (see the module docstring).
    """
    _check_ngram_range("word_ngrams", word_ngrams)
    _check_ngram_range("char_ngrams", char_ngrams)
    if n_word_features < 1 or n_char_features < 1:
        raise ValueError("n_word_features and n_char_features must be >= 1")

    g = _GraphBuilder()
    n_rows = g.op(
        "Slice", g.op("Shape", INPUT_NAME), g.const([0], np.int64), g.const([1], np.int64)
    )
    text = _lowercase(g, _text_with_sentinel_row(g, INPUT_NAME))

    words, word_is_real = _tokens(g, text, tokenexp=_WORD_TOKEN)
    chars, char_is_real = _tokens(g, _padded_with_spaces(g, text), separators=[""])

    def char_occurrences(b: _GraphBuilder, map_whitespace: bool) -> list[str]:
        mapped = _spaces_for_whitespace(b, chars) if map_whitespace else chars
        return list(_family_occurrences(
            b, mapped, char_is_real, char_ngrams, "", n_char_features, n_word_features, n_rows
        ))

    # Mapping whitespace to spaces takes a regex per character and a copy of every string (14%
    # of the labeler's time on short texts): only a batch with other whitespace than spaces pays.
    char_family = g.if_op(
        _has_other_whitespace(g, text), char_occurrences, [TensorProto.INT64, TensorProto.FLOAT]
    )
    families = [
        _family_occurrences(
            g, words, word_is_real, word_ngrams, " ", n_word_features, 0, n_rows
        ),
        tuple(char_family),
    ]

    all_columns = g.op("Concat", *(columns for columns, _ in families), axis=1)
    all_masks = g.op("Concat", *(mask for _, mask in families), axis=1)
    n_features = n_word_features + n_char_features
    counts = _occurrence_counts(g, n_rows, n_features, all_columns, all_masks, families)

    shares, norms = [], []
    for count, (_, mask) in zip(counts, families):
        share, log1p = _log1p_shares(g, count, mask)
        shares.append(share)
        norms.append(_l2_norm_of_family(g, share, log1p))
    divisors = _balanced_divisors(g, norms)
    weights = [g.op("Div", share, divisor) for share, divisor in zip(shares, divisors)]
    values = g.op("Concat", *weights, axis=1)
    features = _scatter_add(g, _zeros(g, n_rows, n_features), all_columns, values)
    g.nodes.append(helper.make_node("Identity", [features], [OUTPUT_NAME]))
    g.nodes.append(helper.make_node("Identity", [all_columns], [BUCKETS_NAME]))
    g.nodes.append(helper.make_node("Identity", [values], [VALUES_NAME]))

    graph = helper.make_graph(
        g.nodes,
        "hashing_featurizer",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.STRING, ["N"])],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, TensorProto.FLOAT, ["N", n_word_features + n_char_features]
            ),
            helper.make_tensor_value_info(BUCKETS_NAME, TensorProto.INT64, ["N", "T"]),
            helper.make_tensor_value_info(VALUES_NAME, TensorProto.FLOAT, ["N", "T"]),
        ],
        initializer=g.initializers,
        value_info=g.value_info,
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", FEATURIZER_OPSET),
            helper.make_opsetid("com.microsoft", MICROSOFT_OPSET),
        ],
        ir_version=FEATURIZER_IR_VERSION,
        producer_name="alchemist_compiler",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def build(params: dict) -> onnx.ModelProto:
    """The registry's builder: the default n-gram ranges and bucket counts (no parameters)."""
    return hashing_featurizer()
