"""What manifest.json records so that a reviewer can trust a labeler: the sha256 of the files it
was compiled from, which label model was chosen and why, and the versions that built it."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..selection import describe
from ..task import Task

#: the compiler and the libraries whose versions decide a labeler's bytes
LIBRARIES = ("alchemist-compiler", "numpy", "torch", "snorkel", "onnx", "onnxruntime", "libcst",
             "ruff", "jinja2", "flit_core")


def source_hashes(task: Task) -> dict[str, str | None]:
    """sha256 of task.yaml as compiled, of each data split and of the lock (None: not there)."""
    paths = {"task": task.path, "train": task.data.train, "valid": task.data.valid,
             "test": task.data.test, "lock": task.lock_path}
    return {role: _sha256(path) for role, path in paths.items()}


def _sha256(path: Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """Python's version and each of LIBRARIES' (None: not installed)."""
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: installed(name) for name in LIBRARIES}}


def label_model_choice(requested: str, params: dict, kept: int, min_columns: int) -> dict:
    """The kind asked for, the kind fitted, and why, as one sentence (`reason`); for `auto`, the
    valid accuracy of each candidate (`candidates`)."""
    kind = params["kind"]
    selection = params.get("selection")
    candidates = selection.get("valid_accuracy") if selection else None
    if selection is not None:
        reason = f"auto chose {kind}: {describe(selection, kind)}"
    elif kind != requested:
        programs = f"{kept} program{'s' if kept != 1 else ''} kept"
        reason = f"only {programs}: {requested} needs at least {min_columns}, using {kind}"
    else:
        reason = f"{kind}, as task.yaml's label_model.kind asks"
    return {"requested": requested, "kind": kind, "reason": reason, "candidates": candidates}


def features_choice(distill: dict) -> dict:
    """The featurizer asked for, the one used, and why, as one sentence (`reason`); for `auto`,
    the valid accuracy of the model distilled with each candidate (`candidates`).
    `distill`: the manifest's distill record."""
    name, selection = distill["features"], distill.get("features_selection")
    if selection is None:
        return {"requested": name, "name": name, "reason": f"{name}, as task.yaml's distill.features asks",
                "candidates": None}
    return {"requested": "auto", "name": name, "reason": f"auto chose {name}: {describe(selection, name)}",
            "candidates": selection.get("valid_accuracy")}
