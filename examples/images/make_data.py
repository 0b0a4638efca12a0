"""The images example's data: a synthetic, Waterbirds-style set written by this script (no
download). Round and angular objects on water or land backgrounds.

- classes: round (a disc or an oval), angular (a square, a triangle or a diamond), in one of five
  colors, with a lighter highlight, noise and a random position and size;
- background: water (blue, with horizontal wave stripes) or land (green and brown, with grass
  specks): spurious. In train, 90% of round objects are on water and 90% of angular ones on land;
  valid and test are balanced across the four groups;
- files: PNG and JPEG of three sizes; train.csv, valid.csv with columns image, label, group
  (the group makes the compile report worst-group accuracy); test/ holds one folder per class.

Deterministic: numpy's default_rng(SEED) and pillow's encoders. Sizes: train 240, valid 80, test 80.

    python examples/fetch.py images      # or: python examples/images/make_data.py DATA_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 0
TRAIN, VALID, TEST = 240, 80, 80
MAJORITY = 0.9  # share of train objects on their class's usual background
COLORS = [(200, 40, 30), (240, 200, 40), (250, 250, 245), (30, 30, 30), (150, 60, 170)]
SHAPES = {"round": ("disc", "oval"), "angular": ("square", "triangle", "diamond")}
USUAL = {"round": "water", "angular": "land"}
SIZES = [(128, 128), (160, 120), (112, 144)]


def background(kind: str, size: tuple[int, int], rng) -> np.ndarray:
    width, height = size
    y = np.arange(height)[:, None]
    if kind == "water":
        base = np.array([40, 90, 190]) + 25 * np.sin(y / 3.0 + rng.uniform(0, 6))[..., None]
        pixels = np.broadcast_to(base, (height, width, 3)).copy()
    else:
        pixels = np.empty((height, width, 3))
        pixels[:] = (70, 140, 55)
        pixels[int(height * rng.uniform(0.55, 0.75)):] = (120, 90, 50)  # soil
        specks = rng.random((height, width)) < 0.05
        pixels[specks] = (40, 100, 30)
    return pixels + rng.normal(0, 8, pixels.shape)


def draw_object(image: Image.Image, shape: str, color, rng) -> None:
    width, height = image.size
    r = rng.uniform(0.18, 0.28) * min(width, height)
    cx, cy = rng.uniform(r, width - r), rng.uniform(r, height - r)
    draw = ImageDraw.Draw(image)
    if shape == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "oval":
        draw.ellipse([cx - r, cy - 0.6 * r, cx + r, cy + 0.6 * r], fill=color)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=color)
    light = tuple(min(255, c + 60) for c in color)
    draw.ellipse([cx - r / 4, cy - r / 2, cx + r / 8, cy - r / 4], fill=light)


def picture(label: str, place: str, index: int, rng) -> Image.Image:
    size = SIZES[index % len(SIZES)]
    pixels = np.clip(background(place, size, rng), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    shapes = SHAPES[label]
    draw_object(image, shapes[rng.integers(len(shapes))], COLORS[rng.integers(len(COLORS))], rng)
    return image


def groups(n: int, spurious: bool, rng) -> list[tuple[str, str]]:
    """(label, background) of n images: balanced, or with the class's usual background MAJORITY
    of the time."""
    rows = []
    for i in range(n):
        label = ("round", "angular")[i % 2]
        if spurious:
            usual = rng.random() < MAJORITY
        else:
            usual = (i // 2) % 2 == 0
        other = "land" if USUAL[label] == "water" else "water"
        rows.append((label, USUAL[label] if usual else other))
    return rows


def write(folder: Path, name: str, n: int, spurious: bool, rng, by_class: bool = False) -> None:
    lines = ["image,label,group"]
    for i, (label, place) in enumerate(groups(n, spurious, rng)):
        suffix = "png" if i % 3 else "jpg"
        relative = Path(name) / label / f"{i:04d}.{suffix}" if by_class else \
            Path(f"{name}_images") / f"{i:04d}.{suffix}"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        picture(label, place, i, rng).save(folder / relative)
        lines.append(f"{relative.as_posix()},{label},{label}/{place}")
    if not by_class:
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make(folder: Path) -> None:
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder, "train", TRAIN, spurious=True, rng=rng)
    write(folder, "valid", VALID, spurious=False, rng=rng)
    write(folder, "test", TEST, spurious=False, rng=rng, by_class=True)


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
