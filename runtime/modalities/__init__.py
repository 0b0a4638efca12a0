"""The runtime side of each modality, registered by the name manifest.json records."""

from __future__ import annotations

from .base import InputKind
from .image import ImageInput
from .tabular import TabularInput
from .text import TextInput
from .timeseries import WindowInput

MODALITIES: dict[str, type[InputKind]] = {
    kind.name: kind for kind in (TextInput, TabularInput, WindowInput, ImageInput)
}


def input_kind(modality: str, spec: dict) -> InputKind:
    """The runtime modality of a labeler (manifest.json's "modality" and "input")."""
    if modality not in MODALITIES:
        raise ValueError(f"this runtime cannot label {modality!r} inputs")
    return MODALITIES[modality](spec)


__all__ = ["MODALITIES", "InputKind", "input_kind"]
