"""Majority vote: nothing to fit."""

from __future__ import annotations

from .common import FitInputs, header


def fit(inputs: FitInputs) -> dict:
    return header("majority", inputs)
