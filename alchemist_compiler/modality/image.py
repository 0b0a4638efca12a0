"""Images: programs receive the image's concept scores, a `dict[str, float]` (the paper's
Section 3.3): the LLM names visual concepts, a local CLIP model scores every image against them,
and the programs read the scores, never pixels.

Data: data.input is a column of image paths, relative to the data file (jsonl, csv, parquet), or a
split is a folder: labeled splits hold one subfolder per class (its name is the label); train's
images may lie in subfolders too (their names are ignored). Images are read by the runtime's
rules (alchemist_runtime.modalities.image).

Preparation, before programs are asked for (the stage DESIGN.md puts between prompts and
programs), all in `prepare`:
1. load the CLIP model (vision.model, vision.weights) and export its image encoder to ONNX;
2. embed every image of every split with that graph (an unreadable image stops the compile here,
   before any LLM request, with its path);
3. concepts: vision.concepts, else asked of the LLM (concepts.py); spurious texts likewise;
4. score every image (featurizers/clip.py: the same ONNX ops the labeler runs).
Only the concept (and spurious-feature) requests go to the LLM: no image is ever sent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from alchemist_runtime.modalities.image import ImageInput

from ..errors import DataError
from .base import Modality

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: An LLM reading one image (the zero-shot baseline's estimate): OpenAI's low-detail image.
IMAGE_PROMPT_TOKENS = 85
BATCH_ROWS = 32  # images per model run (an int8 encoder runs one: see featurizers/clip.py)
ZERO_SHOT_PROGRAM = '''PROMPTS = {prompts!r}


def label(x):
    scores = [x[prompt] for prompt in PROMPTS]
    best = max(scores)
    if scores.count(best) > 1:
        return -1
    return scores.index(best)
'''
RANDOM_WARNING = ("RANDOM CLIP WEIGHTS (vision.weights: random): the concept scores and the "
                  "model carry no meaning; for tests only")


class ImageModality(Modality):
    name = "image"
    program_arg_type = "dict[str, float]"
    default_featurizer = "clip"
    runtime = ImageInput
    reads_folders = True

    def split_rows(self, task, path: Path) -> list[dict]:
        """Rows of a folder (class subfolders), or of a file with paths made absolute."""
        column = task.data.input
        if not isinstance(column, str):
            raise DataError(f"data.input: image tasks take one column of paths, got {column!r}")
        if path.is_dir():
            return _folder_rows(path, column, task.data.label)
        rows = super().split_rows(task, path)
        for row in rows:
            if isinstance(row.get(column), str) and row[column].strip():
                row[column] = str(path.parent / row[column].strip())
        return rows

    def split_chunks(self, task, path: Path, size: int):
        """One chunk: image splits are read whole (their concept scores are computed in memory)."""
        yield self.split_rows(task, path)

    def input_spec(self, task, train_rows: list[dict], file: str) -> dict:
        return {"column": task.data.input}

    def required_columns(self, spec: dict) -> list[str]:
        return [spec["column"]]

    def program_input(self, kind: ImageInput, row: dict, where: str) -> str:
        value = row[kind.spec["column"]]
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: column {kind.spec['column']!r} is {value!r}, not an image path")
        if not Path(value).is_file():
            raise DataError(f"{where}: image not found: {value}")
        return value

    def describe(self, task, dataset) -> str:
        concepts = dataset.input_spec["concepts"]
        lines = [
            "The input `x` is an image, given as a Python `dict[str, float]` that maps each visual "
            "concept below to a similarity score in [0, 1] between the image and the concept, "
            "computed by a CLIP model: the higher the score, the more likely the concept is "
            "present in the image. Scores of different concepts are on the same scale (0 is the "
            "weakest and 1 the strongest match of any concept with any training image); they are "
            "noisy, so compare concepts with each other or use thresholds with a margin. Every "
            "concept is a key of `x`:",
        ]
        lines += [f"- {c!r}" for c in concepts]
        return "\n".join(lines)

    def render_input(self, value: Any, max_chars: int | None = None) -> str:
        """Every concept's score (the whole signal), unless max_chars cuts it."""
        text = "{" + ", ".join(f"{k!r}: {v:.2f}" for k, v in value.items()) + "}"
        if max_chars is None or len(text) <= max_chars:
            return text
        return text[: max_chars - 4] + "...}"

    def probe_inputs(self, spec: dict | None = None) -> tuple[Any, ...]:
        concepts = spec["concepts"] if spec else ["red", "round shape", "water background"]
        return (
            dict.fromkeys(concepts, 0.0),
            dict.fromkeys(concepts, 1.0),
            dict.fromkeys(concepts, 0.5),
            {c: float(i % 2) for i, c in enumerate(concepts)},
        )

    def own_programs(self, task, dataset) -> list[tuple[str, str, str]]:
        """With vision.zero_shot: CLIP's zero-shot vote, the class whose prompt scores highest."""
        prompts = dataset.input_spec.get("zero_shot")
        if not prompts:
            return []
        return [("CLIP zero-shot vote, written by Alchemist (vision.zero_shot)", "clip_zero_shot",
                 ZERO_SHOT_PROGRAM.format(prompts=tuple(prompts)))]

    def zero_shot_prompt_tokens(self, prompt_tokens, value: Any) -> int:
        return prompt_tokens("") + IMAGE_PROMPT_TOKENS

    def prepare(self, task, dataset, llm, console):
        from ..featurizers import clip

        vision = task.vision
        if vision.weights == clip.RANDOM:
            console.print(f"[bold red]WARNING: {RANDOM_WARNING}[/]")
        model = clip.load(vision.model, vision.weights)
        spec = {**dataset.input_spec, **clip.preprocessing(model), "model": model.name,
                "weights": model.weights, "quantize": vision.quantize,
                "batch_rows": 1 if vision.quantize else BATCH_ROWS,
                "template": clip.TEMPLATE, "zero_shot_template": clip.ZERO_SHOT_TEMPLATE}
        if vision.weights == clip.RANDOM:
            spec["warning"] = RANDOM_WARNING
        splits = dataset.splits
        embeddings = _embed(clip.encoder(model, vision.quantize), ImageInput(spec), splits)
        concepts, spurious, exchanges = _concepts(task, llm)
        spec |= {"class_concepts": concepts, "spurious": spurious,
                 "zero_shot": [clip.ZERO_SHOT_TEMPLATE.format(name) for name in task.class_names]
                 if vision.zero_shot else []}
        spec["concepts"] = _unique([c for cs in concepts.values() for c in cs] + spec["zero_shot"])
        spec["score_range"] = clip.score_range(model, spec, embeddings["train"])
        head = clip.head_session(model, spec)
        scored = {name: dataclasses.replace(
            split, raw_inputs=split.inputs,
            inputs=_score_dicts(head, embeddings[name], spec["concepts"]))
            for name, split in splits.items()}
        return dataclasses.replace(dataset, train=scored["train"], valid=scored.get("valid"),
                                   test=scored.get("test"), exemplars=scored.get("exemplars"),
                                   input_spec=spec,
                                   exchanges=tuple(exchanges))


def _folder_rows(folder: Path, column: str, label: str) -> list[dict]:
    """One row per image file under `folder`, sorted by path; a file in a subfolder has that
    subfolder's name as its label."""
    rows = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            relative = path.relative_to(folder)
            row = {column: str(path)}
            if len(relative.parts) > 1:
                row[label] = relative.parts[0]
            rows.append(row)
    return rows


def _embed(encoder, kind: ImageInput, splits: dict) -> dict[str, np.ndarray]:
    """Each split's image embeddings, from the encoder graph (errors name the image)."""
    from alchemist_runtime.session import make_session, run_model

    session = make_session(encoder.SerializeToString(), {})
    width = encoder.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    output = encoder.graph.output[0].name
    embedded = {}
    for name, split in splits.items():
        try:
            embedded[name] = run_model(session, kind, split.inputs, width, output=output)
        except ValueError as err:
            raise DataError(f"data.{name}: {err}") from None
    return embedded


def _concepts(task, llm) -> tuple[dict[str, list[str]], list[str], list]:
    """Concepts per class and spurious texts: the task's, else the LLM's."""
    from .. import concepts as asking

    vision, exchanges = task.vision, []
    if vision.concepts is not None and all(vision.concepts.get(c) for c in task.class_names):
        concepts = {c: list(vision.concepts[c]) for c in task.class_names}
    else:
        concepts, asked = asking.ask_concepts(task, llm)
        exchanges += asked
        concepts = {c: list((vision.concepts or {}).get(c) or concepts[c]) for c in task.class_names}
    spurious = vision.spurious
    if spurious == "auto":
        spurious, asked = asking.ask_spurious(task, llm)
        exchanges += asked
    return concepts, list(spurious), exchanges


def _unique(texts: list[str]) -> list[str]:
    from ..concepts import unique

    return unique(texts)


def _score_dicts(head, embeddings: np.ndarray, concepts: list[str]) -> list[dict[str, float]]:
    scores = head.run(["scores"], {head.get_inputs()[0].name: embeddings})[0]
    return [dict(zip(concepts, row)) for row in scores.tolist()]
