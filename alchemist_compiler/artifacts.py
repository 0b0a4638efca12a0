"""Serializing the typed artifacts that pass between stages (program statistics, metrics, the
cost ledger, the manifest): dataclasses up to the emit boundary, JSON once, there.

A field declared with `field(default=None, metadata=OMITTED_WHEN_NONE)` is left out of the JSON
while it is None (the worst-group fields of a metric on data without groups).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

OMITTED_WHEN_NONE = {"omitted_when_none": True}


def to_json(value: Any) -> Any:
    """Dataclasses (nested in lists and dicts too) as plain JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)
                if not (f.metadata == OMITTED_WHEN_NONE and getattr(value, f.name) is None)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value
