"""Image inputs in the runtime: reading (modes, EXIF, errors) and open_clip's preprocessing, on
real decoded PNG and JPEG files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alchemist_runtime.modalities.image import ImageInput, load_image, preprocess

SPEC = {"column": "image", "image_size": [224, 224], "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic",
        "resize_mode": "shortest", "concepts": ["red"], "batch_rows": 4}


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth image with edges (gradients plus a disc), like a photo to a resampling filter."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 255.0 * ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2)
    pixels = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _saved(image: Image.Image, path, **options):
    image.save(path, **options)
    return path


@pytest.fixture(scope="module")
def open_clip():
    from alchemist_compiler.featurizers._open_clip import import_open_clip

    return import_open_clip()


SIZES = [(300, 200), (200, 301), (224, 224), (50, 80), (1000, 333), (225, 224), (97, 64)]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("size", SIZES)
def test_preprocess_equals_open_clip_transform(open_clip, tmp_path, fmt, size):
    path = _saved(_photo(*size, seed=sum(size)), tmp_path / f"x.{fmt.lower()}", format=fmt)
    image = load_image(path)
    for image_size, interpolation, mode in [(224, "bicubic", "shortest"), (64, "bilinear", "shortest"),
                                            (96, "bicubic", "squash")]:
        spec = {**SPEC, "image_size": [image_size, image_size], "interpolation": interpolation,
                "resize_mode": mode}
        transform = open_clip.image_transform(
            image_size, is_train=False, mean=tuple(spec["mean"]), std=tuple(spec["std"]),
            interpolation=interpolation, resize_mode=mode)
        expected = transform(image).numpy()
        got = preprocess(image, spec)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_exif_orientation_is_applied(tmp_path):
    image = _photo(120, 60, seed=1)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _saved(image, tmp_path / "rotated.jpg", format="JPEG", exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.size == (60, 120)
    reference = load_image(_saved(image, tmp_path / "plain.jpg", format="JPEG"))
    assert reference.size == (120, 60)


def test_modes_become_rgb(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 0))  # fully transparent
    rgba.putpixel((0, 0), (200, 0, 0, 255))
    loaded = load_image(_saved(rgba, tmp_path / "a.png"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((1, 1)) == (255, 255, 255) and loaded.getpixel((0, 0)) == (200, 0, 0)

    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    loaded = load_image(_saved(palette, tmp_path / "p.png", transparency=0))
    assert loaded.getpixel((0, 0)) == (255, 255, 255) and loaded.getpixel((1, 1)) == (0, 255, 0)

    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    loaded = load_image(_saved(cmyk, tmp_path / "c.jpg", format="JPEG"))
    red, green, blue = loaded.getpixel((4, 4))
    assert loaded.mode == "RGB" and red > 200 and green < 60 and blue < 60

    gray = load_image(_saved(Image.new("L", (4, 4), 77), tmp_path / "g.png"))
    assert gray.getpixel((0, 0)) == (77, 77, 77)


def test_unreadable_images_are_named(tmp_path):
    good = _saved(_photo(64, 64, seed=2), tmp_path / "good.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cannot read image .*truncated\.png"):
        load_image(truncated)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"cannot read image .*garbage\.jpg"):
        load_image(garbage)
    with pytest.raises(ValueError, match=r"image not found: .*absent\.png"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ValueError, match="cannot read image image bytes"):
        load_image(b"\x89PNG\r\n\x1a\nbroken")


def test_inputs_paths_bytes_files_and_pil_images_agree(tmp_path):
    path = _saved(_photo(90, 70, seed=3), tmp_path / "x.png")
    kind = ImageInput(SPEC)
    with open(path, "rb") as handle:
        values = kind.batch([path, str(path), path.read_bytes(), Image.open(path), handle])
        batch = kind.model_input(values)
    assert batch.shape == (5, 3, 224, 224)
    for row in batch[1:]:
        np.testing.assert_array_equal(row, batch[0])
    with pytest.raises(TypeError, match="input 1 is int, expected an image"):
        kind.batch([path, 3])
    with pytest.raises(TypeError, match="expected a batch"):
        kind.batch(str(path))


def test_cli_rows_are_relative_to_the_input_file(tmp_path):
    kind = ImageInput(SPEC)
    listed = tmp_path / "lists" / "in.jsonl"
    assert kind.from_rows([{"image": "a/x.png"}], str(listed)) == [str(tmp_path / "lists/a/x.png")]
    assert kind.from_rows(["b.jpg", ""], str(listed)) == [str(tmp_path / "lists/b.jpg")]
    with pytest.raises(ValueError, match="in.jsonl: row 1 has no 'image' field"):
        kind.from_rows([{"path": "x"}], str(listed))


def test_bytes_roundtrip_matches_file(tmp_path):
    image = _photo(40, 30, seed=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    np.testing.assert_array_equal(np.asarray(load_image(buffer.getvalue())), np.asarray(image))
