"""Images: a program receives the image's concept scores, a `dict[str, float]`.

The model reads the preprocessed pixels; its "scores" output holds, per image, the score of each
concept (manifest.json's "input": `concepts`, in order), computed inside the graph from the CLIP
image embedding (see the compiler's featurizers/clip.py). So the labeler runs the programs on
scores it computed itself, from image files, with numpy, pillow and onnxruntime only.

Inputs: a path (`str` or `os.PathLike`), the bytes of an image file, a binary file object, or a
PIL image. Reading (the same at compile time and labeling time): pillow decodes the file fully (a
missing, truncated or corrupt file is a ValueError naming it), the EXIF orientation is applied,
an image with transparency (RGBA, LA, palette with a transparent color) is composited onto white,
and any other mode (CMYK, L, P, I;16, ...) is converted to RGB.

Preprocessing is open_clip's evaluation transform, reimplemented with PIL and numpy and equal to
it value for value: resize so the shorter side is the model's size (the longer side truncated to
an int, as torchvision computes it; bicubic or bilinear, PIL's antialiased resampling), center
crop (offsets rounded as torchvision rounds them), scale to [0, 1], normalize by the mean and
standard deviation per channel. open_clip's "squash" mode resizes straight to the model's size.

Model input: float32 (n, 3, height, width); batch_rows images per model run.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .base import InputKind, rows_need, where

WHITE = (255, 255, 255)


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImportError("image labelers need pillow: pip install pillow") from None
    return Image, ImageOps


def _name(x) -> str:
    """How an error names an image: its path, else what it is."""
    if isinstance(x, (str, os.PathLike)):
        return str(x)
    return "image bytes" if isinstance(x, (bytes, bytearray)) else type(x).__name__


def load_image(x):
    """The RGB PIL image of a path, image file bytes, a binary file object or a PIL image."""
    Image, ImageOps = _pil()
    if isinstance(x, Image.Image):
        image = x
    else:
        source = io.BytesIO(bytes(x)) if isinstance(x, (bytes, bytearray)) else x
        if isinstance(x, (str, os.PathLike)) and not Path(x).is_file():
            raise ValueError(f"image not found: {x}")
        try:
            image = Image.open(source)
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ValueError(f"cannot read image {_name(x)}: {err}") from None
    return to_rgb(ImageOps.exif_transpose(image))


def to_rgb(image):
    """RGB; transparent pixels composited onto white."""
    Image, _ = _pil()
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the shorter side `size`, the longer truncated (torchvision's rule)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def preprocess(image, spec: dict) -> np.ndarray:
    """float32 (3, height, width): open_clip's evaluation transform of an RGB PIL image."""
    Image, _ = _pil()
    height, width = spec["image_size"]
    resample = Image.BICUBIC if spec["interpolation"] == "bicubic" else Image.BILINEAR
    if spec["resize_mode"] == "squash":
        target = (width, height)
    else:
        target = resized_size(image.width, image.height, height)
    if target != image.size:
        image = image.resize(target, resample)
    top = int(round((image.height - height) / 2.0))
    left = int(round((image.width - width) / 2.0))
    image = image.crop((left, top, left + width, top + height))
    pixels = np.asarray(image, dtype=np.uint8).astype(np.float32) / np.float32(255)
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1)


class ImageInput(InputKind):
    """spec: {"column", "image_size": [h, w], "mean", "std", "interpolation", "resize_mode",
    "concepts": [str], "batch_rows", ...provenance written by the compiler}."""

    name = "image"
    one_input = "an image (a path, image file bytes, a binary file or a PIL image)"

    @property
    def batch_rows(self) -> int:
        return self.spec["batch_rows"]

    def one(self, x, index: int | str | None = None):
        """The input as given (a path as a str); images are read batch by batch."""
        Image, _ = _pil()
        if isinstance(x, os.PathLike):
            return os.fspath(x)
        if isinstance(x, (str, bytes, bytearray, Image.Image)) or hasattr(x, "read"):
            return x
        raise TypeError(f"{where(index)} is {type(x).__name__}, expected {self.one_input}")

    def model_input(self, values: list) -> np.ndarray:
        height, width = self.spec["image_size"]
        out = np.empty((len(values), 3, height, width), dtype=np.float32)
        for i, value in enumerate(values):
            out[i] = preprocess(load_image(value), self.spec)
        return out

    def program_args(self, values: list, session) -> list[dict]:
        """Each image's concept scores, from the model's "scores" output."""
        from ..session import run_model

        concepts = self.spec["concepts"]
        scores = run_model(session, self, values, len(concepts), output="scores")
        return [dict(zip(concepts, row)) for row in scores.tolist()]

    def from_rows(self, rows: list, file: str) -> list:
        """Paths: .txt lines, or the input column of rows; relative to the input file's folder."""
        folder = Path(file).parent
        if rows and isinstance(rows[0], str):
            paths = [line for line in rows if line.strip()]
        else:
            column = self.spec["column"]
            paths = []
            for number, row in enumerate(rows_need(rows, file, self.name), start=1):
                if column not in row:
                    raise ValueError(f"{Path(file).name}: row {number} has no {column!r} field")
                paths.append(row[column])
        return [str(folder / path) for path in paths]

    def example(self) -> str:
        return '"photo.jpg"'
