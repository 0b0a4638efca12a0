"""The modality seam: one module per kind of input, registered here (the only list of them).

Adding a modality: see README.md, "Adding a modality".
"""

from __future__ import annotations

from .base import Modality
from .image import ImageModality
from .tabular import TabularModality
from .text import TextModality
from .timeseries import TimeSeriesModality

MODALITIES: dict[str, Modality] = {
    m.name: m for m in (TextModality(), TabularModality(), TimeSeriesModality(), ImageModality())
}


def get_modality(name: str) -> Modality:
    """The modality registered under `name` (a validated task's `modality`)."""
    return MODALITIES[name]


__all__ = ["MODALITIES", "Modality", "get_modality"]
