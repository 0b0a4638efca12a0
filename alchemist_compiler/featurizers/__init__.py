"""Featurizers: ONNX graphs from a modality's model input ("input") to float32 "features" (N, d).

A registry in the style of sklearn-onnx's converters: `register_featurizer(...)` declares, in one
place, how a featurizer is built and what the labeler needs to run it. emit (dependencies and
manifest.json), distill (the head it joins) and the runtime's session helper
(`alchemist_runtime.session.make_session`) all read that one description.

Featurizers sit below the modalities: a modality names its featurizer; a featurizer never
imports a modality. Builders are imported lazily (minilm needs torch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # onnx is imported by the builders, when a featurizer is built
    import numpy as np
    import onnx


@dataclass(frozen=True)
class Featurizer:
    """One registered featurizer and what running it needs."""

    name: str
    modality: str  # the modality whose model input it reads
    #: (modality's input spec, model input of every train row) -> JSON-ready build parameters
    fit: Callable[[dict, np.ndarray], dict]
    #: build parameters -> the graph
    build: Callable[[dict], onnx.ModelProto]
    dependencies: tuple[str, ...] = ()  # the labeler's requirements beyond numpy + onnxruntime
    custom_op_domains: tuple[str, ...] = ()  # op domains whose library the runtime registers
    session_options: dict = field(default_factory=dict)  # onnxruntime SessionOptions attributes
    occurrence_outputs: bool = False  # also outputs "buckets"/"values" (see hashing.py)
    fit_reads_inputs: bool = True  # False: fit gets None, not every train row's model input
    extra_outputs: tuple[str, ...] = ()  # outputs the labeler's model keeps (clip: "scores")

    def parameters(self, spec: dict, model_input: Callable[[], np.ndarray]) -> dict:
        """Build parameters: fit on the train rows' model input (computed only if fit reads it)."""
        return self.fit(spec, model_input() if self.fit_reads_inputs else None)

    def needs(self) -> dict:
        """What the labeler needs to run it (manifest.json's "featurizer")."""
        return {
            "name": self.name,
            "dependencies": list(self.dependencies),
            "custom_op_domains": list(self.custom_op_domains),
            "session_options": dict(self.session_options),
            "occurrence_outputs": self.occurrence_outputs,
        }


FEATURIZERS: dict[str, Featurizer] = {}


def register_featurizer(
    name: str,
    modality: str,
    build: Callable[[dict], onnx.ModelProto],
    *,
    fit: Callable[[dict, np.ndarray], dict] | None = None,
    dependencies: tuple[str, ...] = (),
    custom_op_domains: tuple[str, ...] = (),
    session_options: dict | None = None,
    occurrence_outputs: bool = False,
    fit_reads_inputs: bool = True,
    extra_outputs: tuple[str, ...] = (),
) -> Featurizer:
    """Add a featurizer to the registry (a name is registered once)."""
    if name in FEATURIZERS:
        raise ValueError(f"featurizer {name!r} is already registered")
    featurizer = Featurizer(
        name, modality, fit or _no_parameters, build, tuple(dependencies),
        tuple(custom_op_domains), dict(session_options or {}), occurrence_outputs,
        fit_reads_inputs, tuple(extra_outputs),
    )
    FEATURIZERS[name] = featurizer
    return featurizer


def get_featurizer(name: str) -> Featurizer:
    return FEATURIZERS[name]


def names_for(modality: str) -> list[str]:
    """Featurizers that read this modality's model input."""
    return [name for name, f in FEATURIZERS.items() if f.modality == modality]


def _no_parameters(spec: dict, model_input: np.ndarray) -> dict:
    return {}


def _lazy(module: str, function: str) -> Callable:
    """`module.function`, imported on the first call."""

    def call(*args):
        return getattr(importlib.import_module(module, __name__), function)(*args)

    call.__name__ = function
    return call


register_featurizer("hashing", "text", _lazy(".hashing", "build"), occurrence_outputs=True)
_MINILM = register_featurizer(
    "minilm", "text", _lazy(".minilm", "build"),
    dependencies=("onnxruntime-extensions>=0.15",), custom_op_domains=("ai.onnx.contrib",),
)
register_featurizer("both", "text", _lazy(".both", "build"),  # hashing + minilm, concatenated
                    dependencies=_MINILM.dependencies, custom_op_domains=_MINILM.custom_op_domains)
register_featurizer("tabular", "tabular", _lazy(".tabular", "build"),
                    fit=_lazy(".tabular", "fit"))
register_featurizer("window", "timeseries", _lazy(".window", "build"),
                    fit=_lazy(".window", "fit"))
register_featurizer("clip", "image", _lazy(".clip", "build"), fit=_lazy(".clip", "fit"),
                    dependencies=("pillow>=9.1",), fit_reads_inputs=False,
                    extra_outputs=("scores",))

__all__ = ["FEATURIZERS", "Featurizer", "get_featurizer", "names_for", "register_featurizer"]
