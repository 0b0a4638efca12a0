"""The labeler's manifest.json as a typed record: what the compile built and why, serialized
once by emit.write_package (which adds the package's version, digests and generator)."""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import ProgramStats
from .cost import CostLedger
from .metrics import Metrics


@dataclass(frozen=True)
class ProgramEntry:
    """One emitted program file."""

    file: str  # pNN_<name>.py
    strategy: str
    pinned: bool
    source: str | None  # the LLM source that wrote it (None: hand-written or built in)


@dataclass(frozen=True)
class Manifest:
    name: str
    import_name: str
    modality: str
    input: dict  # the modality's input spec (runtime side)
    featurizer: dict  # the featurizer's needs: kind, parameters, dependencies
    classes: list[str]
    call_timeout_s: float
    seed: int
    programs: list[ProgramEntry]
    label_model_columns: list[str]  # program stems and weak-label columns, in the model's order
    label_model: str
    label_model_choice: dict
    diagnostics: list[ProgramStats]
    dropped: list[str]
    selection_data: dict
    metrics: list[Metrics]
    evidence: dict
    cost: CostLedger
    distill: dict
    sources_sha256: dict[str, str]
    versions: dict[str, str]
