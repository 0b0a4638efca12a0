"""Image labelers: throughput of the labeler's path (PIL + numpy preprocessing, onnxruntime) against
open_clip in torch on the same images, cold start, wheel size, and what int8 does to embeddings
and concept scores. Random weights (speed and size do not depend on them); the images of
examples/images; the model is what an image labeler ships: CLIP image encoder, concept-scoring
head (16 concepts) and a 2 x 32 MLP ensemble of 5.

    python benchmarks/images.py [--images 64]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from fetch import fetch  # noqa: E402

ARCHITECTURES = (("ViT-S-32-alt", None), ("ViT-B-32", None), ("ViT-B-32", "int8"))
CONCEPTS = [f"concept {i}" for i in range(16)]
RUNTIME_BYTES = None  # measured once: the runtime copied into every labeler, deflated
COLD_ORT = """
import sys, time
started = time.perf_counter()
from alchemist_runtime.modalities.image import ImageInput
from alchemist_runtime.session import make_session, run_model
import json
spec = json.load(open(sys.argv[2]))
session = make_session(sys.argv[1], {{}})
run_model(session, ImageInput(spec), [sys.argv[3]], 2)
print(time.perf_counter() - started)
"""
COLD_TORCH = """
import sys, time
started = time.perf_counter()
import torch
from alchemist_compiler.featurizers._open_clip import import_open_clip
open_clip = import_open_clip()
from PIL import Image
model, _, preprocess = open_clip.create_model_and_transforms(sys.argv[1], pretrained=None)
model.eval()
with torch.no_grad():
    model.encode_image(preprocess(Image.open(sys.argv[2])).unsqueeze(0))
print(time.perf_counter() - started)
"""


NOTES = """With random weights every image is about equally similar to every concept, so the [0, 1]
map stretches a narrow range and magnifies any change; the score drift with trained weights was
not measured (no checkpoint is reachable here). The embedding cosine is the measure that carries
over (MiniLM's int8 encoder: 0.993, FINDINGS.md).
int8 is smaller but, run one image at a time, slower than fp32 at batch 32 here. The compiled
example (examples/images: ViT-B-32 int8, 400 images) is an 88.7 MB wheel and compiles offline in
3 min 39 s on this machine."""


def labeler_model(clip_module, model, quantize: str | None, k: int = 2):
    """What an image labeler's model.onnx holds: featurizer (encoder + head) joined to an MLP."""
    import torch

    from alchemist_compiler.distill.export import ensemble_to_onnx, join
    from alchemist_compiler.distill.mlp import Ensemble

    spec = {"concepts": CONCEPTS, "spurious": [], "score_range": [-0.2, 0.4], "quantize": quantize,
            "weights": model.weights}
    featurizer = clip_module.graph(model, spec)
    width = featurizer.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Linear(width, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, k))
               for _ in range(5)]
    head = ensemble_to_onnx(Ensemble(members), width, 17, featurizer.ir_version)
    return join(featurizer, head, "benchmark labeler", keep=("scores",)), spec


def deflated(data: bytes) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.onnx", data)
    return len(buffer.getvalue())


def runtime_deflated() -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "runtime").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, str(path.relative_to(ROOT)))
    return len(buffer.getvalue())


def per_second(run, items: int) -> float:
    run(1)  # warm up
    started = time.perf_counter()
    run(items)
    return items / (time.perf_counter() - started)


def ort_speed(session, spec: dict, paths: list[str], batch: int) -> float:
    from alchemist_runtime.modalities.image import ImageInput
    from alchemist_runtime.session import run_model

    kind = ImageInput({**spec, "batch_rows": batch})
    return per_second(lambda n: run_model(session, kind, paths[:n], 2), len(paths))


def torch_speed(model, spec: dict, paths: list[str], batch: int) -> float:
    import torch

    from alchemist_compiler.featurizers._open_clip import import_open_clip
    from alchemist_runtime.modalities.image import load_image

    transform = import_open_clip().image_transform(spec["image_size"][0], is_train=False)

    def run(n: int) -> None:
        with torch.no_grad():
            for start in range(0, n, batch):
                pixels = torch.stack([transform(load_image(p)) for p in paths[start:start + batch]])
                model.module.encode_image(pixels)

    return per_second(run, len(paths))


def cold(script: str, *args: str) -> float:
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                            check=True)
    return float(result.stdout.strip().splitlines()[-1])


def measure(name: str, quantize: str | None, paths: list[str]) -> dict:
    import torch

    from alchemist_compiler.featurizers import clip
    from alchemist_runtime.session import make_session

    torch.set_num_threads(2)
    model = clip.load(name, "random")
    started = time.perf_counter()
    onnx_model, spec = labeler_model(clip, model, quantize)
    build_s = time.perf_counter() - started
    spec = {**spec, **clip.preprocessing(model), "column": "image", "batch_rows": 32}
    data = onnx_model.SerializeToString()
    session = make_session(data, {})
    with tempfile.TemporaryDirectory() as scratch:
        model_path, spec_path = Path(scratch) / "model.onnx", Path(scratch) / "spec.json"
        model_path.write_bytes(data)
        spec_path.write_text(json.dumps(spec))
        cold_ort = cold(COLD_ORT.format(), str(model_path), str(spec_path), paths[0])
    row = {
        "model": name + (f" ({quantize})" if quantize else ""),
        "ort_1": ort_speed(session, spec, paths, 1),
        "ort_32": None if quantize else ort_speed(session, spec, paths, 32),
        "torch_1": None if quantize else torch_speed(model, spec, paths, 1),
        "torch_32": None if quantize else torch_speed(model, spec, paths, 32),
        "cold_ort": cold_ort,
        "cold_torch": None if quantize else cold(COLD_TORCH, name, paths[0]),
        "model_mb": len(data) / 1e6,
        "wheel_mb": (deflated(data) + runtime_deflated()) / 1e6,
        "build_s": build_s,
    }
    return row


def int8_drift(name: str, paths: list[str]) -> dict:
    """Embeddings and concept scores of the int8 encoder against fp32, on the same images."""
    from alchemist_compiler.featurizers import clip
    from alchemist_runtime.modalities.image import ImageInput
    from alchemist_runtime.session import make_session, run_model

    model = clip.load(name, "random")
    spec = {"concepts": CONCEPTS, "spurious": [], "quantize": None, "weights": model.weights,
            "column": "image", **clip.preprocessing(model)}
    embeddings = {}
    for quantize in (None, "int8"):
        encoder = clip.encoder(model, quantize)
        kind = ImageInput({**spec, "batch_rows": 1})
        embeddings[quantize] = run_model(make_session(encoder.SerializeToString(), {}), kind, paths,
                                         encoder.graph.output[0].type.tensor_type.shape.dim[1].dim_value,
                                         output=encoder.graph.output[0].name)
    f, q = embeddings[None], embeddings["int8"]
    cosine = (f * q).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(q, axis=1)
    spec["score_range"] = clip.score_range(model, spec, f)
    head = clip.head_session(model, spec)
    scores = {k: head.run(["scores"], {"clip/embedding": v})[0] for k, v in embeddings.items()}
    return {"cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
            "score_max": float(np.abs(scores[None] - scores["int8"]).max()),
            "score_mean": float(np.abs(scores[None] - scores["int8"]).mean())}


def fmt(value, pattern: str = "{:,.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def main(count: int = 64) -> str:
    fetch("images")
    folder = ROOT / "examples" / "images" / "data"
    paths = sorted(str(p) for p in (folder / "valid_images").iterdir())[:count]
    rows = [measure(name, quantize, paths) for name, quantize in ARCHITECTURES]
    lines = [
        f"Random weights, {len(paths)} images of examples/images (PNG and JPEG, 112-160 px), 2 "
        "threads. onnxruntime: the labeler's path (pillow decode, numpy preprocessing, one ONNX "
        "model: encoder, concept scores, MLP). torch: open_clip's own transform and encode_image "
        "(the encoder alone). Wheel: model.onnx deflated as in the wheel, plus the runtime.",
        "",
        "| model | images/s onnxruntime, batch 1 | batch 32 | images/s open_clip torch, batch 1 | "
        "batch 32 | cold start onnxruntime | cold start torch | model.onnx | wheel |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {fmt(r['ort_1'])} | {fmt(r['ort_32'])} | {fmt(r['torch_1'])} | "
            f"{fmt(r['torch_32'])} | {r['cold_ort']:.2f} s | {fmt(r['cold_torch'], '{:.2f} s')} | "
            f"{r['model_mb']:.0f} MB | {r['wheel_mb']:.0f} MB |")
    lines += ["", "An int8 labeler runs one image per model run (activations are quantized per run, "
              "so a batch would change each image's result).", ""]
    lines += ["| int8 encoder vs fp32 (same images) | embedding cosine mean / min | concept score "
              "abs. difference mean / max |", "|---|---|---|"]
    for name in ("ViT-S-32-alt", "ViT-B-32"):
        d = int8_drift(name, paths)
        lines.append(f"| {name} | {d['cosine_mean']:.4f} / {d['cosine_min']:.4f} | "
                     f"{d['score_mean']:.4f} / {d['score_max']:.4f} |")
    lines += ["", NOTES]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    print(main(parser.parse_args().images))
