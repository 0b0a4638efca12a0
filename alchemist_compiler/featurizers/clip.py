"""CLIP (open_clip) image features and concept scores, as one ONNX graph:
float32 "input" [N, 3, H, W] (preprocessed pixels: alchemist_runtime.modalities.image) ->
"features" [N, D] and "scores" [N, m].

- The image encoder is exported once from open_clip (torch, the legacy exporter), optionally
  quantized to int8 (`vision.quantize`: dynamic, weights per output channel; activations are
  quantized per batch at run time, so an int8 labeler runs one image per model run and an
  image's result does not depend on its batch).
- features: the image embedding, L2-normalized; with spurious texts (`vision.spurious`), the
  directions of their text embeddings (an orthonormal basis Q) are projected out, RoboShot-style,
  and the result normalized again: f = normalize(e - Q Q^T e). The MLP head trains on these.
- scores: per concept c, the cosine similarity s_c = f . t_c between the features and the
  concept's text embedding t_c (open_clip's text encoder on TEMPLATE.format(c), normalized),
  mapped to [0, 1] by one affine map for all concepts, (s_c - lo) / (hi - lo), clipped to
  [0, 1]: lo and hi are the lowest and highest similarity between any train image and any
  concept. So 0 is the weakest match seen in train, 1 the strongest, and scores of different
  concepts compare as CLIP's similarities do (the zero-shot voter takes their argmax).

The spec (manifest.json's "input", written by the image modality) names everything the graph
depends on; building needs the CLIP model loaded in this process first (`load`), because the
weights' path is not part of the spec (no absolute paths in the output).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, compose, helper

from ._graph import IR_VERSION, OPSET, Graph, quantize_int8

TEMPLATE = "a photo of {}."  # concept c -> the text CLIP embeds (open_clip's simple template)
ZERO_SHOT_TEMPLATE = "an image of a {}"  # class name -> the zero-shot voter's concept
RANDOM = "random"
RANDOM_SEED = 0  # random weights: the same on every compile
PREFIX = "clip/"  # the encoder's names: no clash with the head joined after it
SUPPORTED_RESIZE = ("shortest", "squash")


@dataclass(frozen=True)
class Clip:
    """A loaded open_clip model: torch module, tokenizer, and what identifies its weights."""

    name: str
    weights: str  # "random" or "<file name> sha256:<hex>"
    module: object
    tokenizer: object
    preprocess: dict  # open_clip's preprocess config of the model

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), D): normalized text embeddings, computed on one thread (their
        bits, and so the labeler's, do not depend on the machine's or the process's threads)."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():  # no texts: one empty text, for the width
                embedded = self.module.encode_text(self.tokenizer(texts or [""])).numpy()
        finally:
            torch.set_num_threads(threads)
        embedded = embedded[: len(texts)].astype(np.float64)
        return (embedded / np.linalg.norm(embedded, axis=1, keepdims=True)).astype(np.float32)


_LOADED: dict[tuple[str, str], Clip] = {}
_ENCODERS: dict[tuple[str, str, str | None], onnx.ModelProto] = {}


def weights_id(weights: str | Path) -> str:
    """What identifies weights in the spec: "random", or the file's name and sha256."""
    if str(weights) == RANDOM:
        return RANDOM
    path = Path(weights)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name} sha256:{digest.hexdigest()}"


def checkpoint_file(weights: Path) -> Path:
    """The checkpoint inside an open_clip folder (as saved by open_clip / the HF hub), or the file."""
    if weights.is_file():
        return weights
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors",
                 "pytorch_model.bin"):
        if (weights / name).is_file():
            return weights / name
    raise FileNotFoundError(f"no open_clip checkpoint in {weights} (open_clip_model.safetensors "
                            "or open_clip_pytorch_model.bin)")


def model_name(model: str) -> str:
    """An architecture name, or the stem of an open_clip model config .json (registered)."""
    if model.endswith(".json"):
        from ._open_clip import import_open_clip

        import_open_clip().add_model_config(model)
        return Path(model).stem
    return model


def load(model: str, weights: str | Path) -> Clip:
    """The open_clip model with these weights ("random": seeded random weights), cached."""
    from ._open_clip import import_open_clip

    open_clip = import_open_clip()
    import torch

    name = model_name(model)
    if name not in open_clip.list_models():
        raise ValueError(f"{model!r} is not an open_clip architecture (e.g. ViT-B-32, ViT-S-32-alt)")
    file = None if str(weights) == RANDOM else checkpoint_file(Path(weights))
    key = (name, weights_id(file) if file else RANDOM)
    if key not in _LOADED:
        torch.manual_seed(RANDOM_SEED)
        silenced = logging.root.manager.disable  # "No pretrained weights loaded": we know
        logging.disable(logging.WARNING)
        try:
            module = open_clip.create_model(name, pretrained=str(file) if file else None)
        finally:
            logging.disable(silenced)
        module.eval()
        preprocess = dict(open_clip.get_model_preprocess_cfg(module))
        _LOADED[key] = Clip(name, key[1], module, open_clip.get_tokenizer(name), preprocess)
    return _LOADED[key]


def preprocessing(clip: Clip) -> dict:
    """The runtime's preprocessing spec, from open_clip's config of the model."""
    cfg = clip.preprocess
    size = cfg["size"]
    height, width = (size, size) if isinstance(size, int) else size
    if cfg["resize_mode"] not in SUPPORTED_RESIZE or (
            cfg["resize_mode"] == "shortest" and height != width):
        raise ValueError(f"{clip.name}: open_clip preprocessing {cfg['resize_mode']!r} at "
                         f"{height}x{width} is not supported (square 'shortest', or 'squash')")
    return {"image_size": [height, width], "mean": [float(v) for v in cfg["mean"]],
            "std": [float(v) for v in cfg["std"]], "interpolation": cfg["interpolation"],
            "resize_mode": cfg["resize_mode"]}


def encoder(clip: Clip, quantize: str | None) -> onnx.ModelProto:
    """The image encoder: "input" [N, 3, H, W] -> PREFIX + "embedding" [N, D] (cached)."""
    key = (clip.name, clip.weights, quantize)
    if key not in _ENCODERS:
        model = _export_encoder(clip)
        if quantize == "int8":
            model = quantize_int8(model)
        _ENCODERS[key] = compose.add_prefix(model, PREFIX, rename_inputs=False)
    return _ENCODERS[key]


def _export_encoder(clip: Clip) -> onnx.ModelProto:
    import torch

    class ImageEncoder(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, pixels):
            return self.module.encode_image(pixels)

    height, width = preprocessing(clip)["image_size"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # not under no_grad: nn.MultiheadAttention would take its
        warnings.simplefilter("ignore")  # fused path, which does not export
        # (the legacy exporter is deliberate: fast, one file)
        torch.onnx.export(
            ImageEncoder(clip.module), (torch.zeros(1, 3, height, width),), buffer,
            input_names=["input"], output_names=["embedding"],
            dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}}, opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = IR_VERSION
    return model


def spurious_basis(clip: Clip, spurious: list[str]) -> np.ndarray:
    """float32 (D, r): an orthonormal basis of the spurious texts' embedding directions."""
    directions = clip.embed_texts([TEMPLATE.format(s) for s in spurious]).astype(np.float64)
    if not len(directions):
        return np.zeros((directions.shape[1], 0), dtype=np.float32)
    basis, _ = np.linalg.qr(directions.T)
    return basis.astype(np.float32)


def features_of(embeddings: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """float64 features of image embeddings (numpy, for the score range): see the module doc."""
    e = embeddings.astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    if basis.shape[1]:
        b = basis.astype(np.float64)
        e = e - (e @ b) @ b.T
        e /= np.linalg.norm(e, axis=1, keepdims=True)
    return e


def _head_nodes(clip: Clip, spec: dict, embedding: str) -> Graph:
    """Nodes from the embedding to "features" and "scores" (see the module doc)."""
    concepts = clip.embed_texts([TEMPLATE.format(c) for c in spec["concepts"]])
    basis = spurious_basis(clip, spec["spurious"])
    g = Graph("clip_head")
    features = g.op("Div", embedding, g.op("ReduceL2", embedding, axes=[1], keepdims=1))
    if basis.shape[1]:
        along = g.op("MatMul", g.op("MatMul", features, g.const(basis)), g.const(basis.T))
        projected = g.op("Sub", features, along)
        features = g.op("Div", projected, g.op("ReduceL2", projected, axes=[1], keepdims=1))
    similarity = g.op("MatMul", features, g.const(concepts.T))
    lo, hi = spec["score_range"]
    scaled = g.op("Div", g.op("Sub", similarity, g.const(lo)), g.const(max(hi - lo, 1e-6)))
    scores = g.op("Clip", scaled, g.const(0.0), g.const(1.0))
    g.nodes += [helper.make_node("Identity", [features], ["features"], name="clip_head/features"),
                helper.make_node("Identity", [scores], ["scores"], name="clip_head/scores")]
    return g


def _model(nodes, inputs, initializers, spec: dict, width: int, opsets: dict[str, int],
           doc: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "clip_featurizer", inputs,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", width]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", len(spec["concepts"])])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in
                                                    sorted(opsets.items())],
                              ir_version=IR_VERSION, producer_name="alchemist_compiler")
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model


def _embedding_width(encoder_model: onnx.ModelProto) -> int:
    return encoder_model.graph.output[0].type.tensor_type.shape.dim[1].dim_value


def graph(clip: Clip, spec: dict) -> onnx.ModelProto:
    """The featurizer graph for an image spec: encoder, then the head (see the module doc)."""
    enc = encoder(clip, spec["quantize"])
    head = _head_nodes(clip, spec, enc.graph.output[0].name)
    return _model([*enc.graph.node, *head.nodes], list(enc.graph.input),
                  [*enc.graph.initializer, *head.initializers], spec, _embedding_width(enc),
                  {o.domain: o.version for o in enc.opset_import},
                  f"open_clip {clip.name} ({spec['weights']}) image features and concept scores")


def head_session(clip: Clip, spec: dict):
    """An onnxruntime session of the head alone: the encoder's embedding -> features, scores
    (the same nodes as in `graph`, for scoring embeddings the compile computed once)."""
    from alchemist_runtime.session import make_session

    enc = encoder(clip, spec["quantize"])
    head = _head_nodes(clip, spec, enc.graph.output[0].name)
    inputs = [helper.make_tensor_value_info(enc.graph.output[0].name, TensorProto.FLOAT,
                                            ["N", _embedding_width(enc)])]
    model = _model(head.nodes, inputs, head.initializers, spec, _embedding_width(enc),
                   {"": OPSET}, "clip head")
    return make_session(model.SerializeToString(), {})


def score_range(clip: Clip, spec: dict, train_embeddings: np.ndarray) -> list[float]:
    """[lo, hi]: the lowest and highest similarity of any train image with any concept."""
    concepts = clip.embed_texts([TEMPLATE.format(c) for c in spec["concepts"]]).astype(np.float64)
    similarity = features_of(train_embeddings, spurious_basis(clip, spec["spurious"])) @ concepts.T
    return [float(similarity.min()), float(similarity.max())]


def loaded(spec: dict) -> Clip:
    """The CLIP model the spec names, loaded in this process by the image modality."""
    key = (spec["model"], spec["weights"])
    if key not in _LOADED:
        raise RuntimeError(f"the CLIP model {key} is not loaded: the image modality loads it")
    return _LOADED[key]


def fit(spec: dict, model_input: np.ndarray | None) -> dict:
    """The spec is the whole of the parameters (the score range was fitted on train by the
    modality, from the embeddings it computed)."""
    return spec


def build(params: dict) -> onnx.ModelProto:
    """The registry's builder."""
    return graph(loaded(params), params)
