"""The modality seam: what a program receives, how prompts describe it, how the model featurizes it.

Every stage asks the task's `Modality` instead of assuming text. Adding images, tabular rows or
time series means adding one module here and registering it.
"""

from __future__ import annotations

from .base import Modality
from .text import TextModality

MODALITIES: dict[str, type[Modality]] = {"text": TextModality}


def get_modality(name: str) -> Modality:
    """The modality implementation registered under `name` (a validated task's `modality`)."""
    return MODALITIES[name]()


__all__ = ["MODALITIES", "Modality", "get_modality"]
