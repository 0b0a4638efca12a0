"""Stage 10: write the labeler package, build its wheel, and check the installed labeler.

Everything written is a function of the compile's inputs: no timestamps, no absolute paths.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from .analysis import ProgramStats
from .artifacts import to_json
from .manifest import Manifest
from .outdir import GENERATOR
from .programs.build import Program
from .resources import RUNTIME, template_env
from .task import Task

FIRST_VERSION = "1.0.0"
DEPENDENCIES = ("numpy>=1.24", "onnxruntime>=1.20")  # and the featurizer's own (its registry entry)
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
HEAVY_MODULES = ("torch", "snorkel", "libcst", "sklearn", "pandas")


@dataclass(frozen=True)
class EmittedProgram:
    file: str  # pNN_<name>.py
    strategy: str
    source: str  # full file text, header included
    stats: ProgramStats
    pinned: bool  # programs.pin: kept as reviewed
    writer: str | None  # the LLM source that wrote it


def emitted_programs(task: Task, programs: list[Program], stats: list[ProgramStats]) -> list[EmittedProgram]:
    """The kept programs' files, numbered in order, each with its provenance header."""
    by_name = {s.name: s for s in stats}
    emitted = []
    for index, program in enumerate(programs, start=1):
        s = by_name[program.name]
        file, text = program_file(task, index, program.name, program.source, _provenance_lines(program, s))
        emitted.append(EmittedProgram(file, program.strategy, text, s, is_pinned(program),
                                      program.provenance.get("source")))
    return emitted


def is_pinned(program: Program) -> bool:
    return program.provenance.get("origin") == "pinned"


def _writer(provenance: dict) -> str:
    """The LLM source that wrote a program: its model, or its name and model."""
    source, model = provenance["source"], provenance["model"]
    return model if source == model else f"{source} ({model})"


def _provenance_lines(program: Program, s: ProgramStats) -> list[str]:
    p = program.provenance
    if p.get("origin") == "llm":  # pins.WRITTEN reads the first line back
        origin = [
            (f"Written by {_writer(p)} as program {p['program']} (strategy: {program.strategy}); "
             f"request sha256 {p['request_sha256'][:16]}."),
            f"Tokens: {p['prompt_tokens']} prompt + {p['completion_tokens']} completion; cost ${p['cost_usd']:.6f}.",
        ]
    elif is_pinned(program):
        origin = [f"Pinned (programs.pin: {p['file']}): kept as reviewed; its slot asks the LLM nothing.",
                  p["written"]]
    else:
        origin = [f"Hand-written: {p['origin']}."]
    changed = [f"Changed by Alchemist: {'; '.join(program.changes)}."] if program.changes else []
    accuracy = "n/a" if s.valid_accuracy is None else f"{s.valid_accuracy:.3f} on {s.valid_votes} votes"
    return origin + changed + [f"Train coverage {s.coverage:.3f}; valid accuracy {accuracy}."]


def program_file(task: Task, index: int, name: str, source: str, provenance_lines: list[str]) -> tuple[str, str]:
    """File name and text of one kept program: a provenance docstring, then the normalized source.

    What the labeler runs is the whole file, so the docstring's text (file names, model and
    class names come from the user or the LLM) is made inert, and the file is checked to be
    exactly the vetted source behind one docstring.
    """
    stem = f"p{index:02d}_{name}"
    classes = ", ".join(f"{i} = {c.name}" for i, c in enumerate(task.classes))
    text = template_env("package").get_template("program.py.j2").render(
        stem=_inert(stem), task_name=_inert(task.name), class_indices=_inert(classes),
        provenance_lines=[_inert(line) for line in provenance_lines], source=source.strip(),
    ).rstrip() + "\n"
    body = ast.parse(text).body
    if not (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and ast.dump(ast.Module(body[1:], [])) == ast.dump(ast.parse(source))):
        raise RuntimeError(f"the emitted file of {name} is not its vetted source")
    return f"{stem}.py", text


def _inert(value: str) -> str:
    """Text that cannot end or escape a triple-quoted docstring: one line, no backslash, no "."""
    return " ".join(value.split()).replace("\\", "/").replace('"', "'")


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_runtime(destination: Path) -> None:
    """Every file of runtime/ (modules, subpackages, data files), no caches."""
    for source in sorted(RUNTIME.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            _write(destination / source.relative_to(RUNTIME), source.read_bytes())


def write_package(
    root: Path,
    task: Task,
    programs: list[EmittedProgram],
    label_model: dict,
    model: onnx.ModelProto,
    manifest: Manifest,
    readme_context: dict,
    previous: dict | None = None,
) -> dict:
    """The package source tree under `root`; returns manifest.json as written.

    `previous`: the manifest of the labeler this one replaces (its version and content digest).
    """
    env = template_env("package")
    package = root / "src" / task.import_name
    dependencies = DEPENDENCIES + tuple(manifest.featurizer["dependencies"])
    context = {"task": task, "version": "0", "dependencies": dependencies,  # version: once content is known
               "column": _column_shown(task.data.input)}
    _write(root / "pyproject.toml", env.get_template("pyproject.toml.j2").render(**context))
    _write(package / "__init__.py", env.get_template("__init__.py.j2").render(**context))
    _write(package / "__main__.py", env.get_template("__main__.py.j2").render(**context))
    for module in ("batches.py", "dask.py"):  # a batch function for Spark / Ray; Dask
        _write(package / module, env.get_template(f"{module}.j2").render(**context))
    for program in programs:
        _write(package / "programs" / program.file, program.source)
    _write(package / "label_model.json", json.dumps(label_model, indent=1) + "\n")
    _write(package / "model.onnx", model.SerializeToString())
    _copy_runtime(package / "_runtime")
    content = hashlib.sha256(json.dumps(_artifacts(package), sort_keys=True).encode()).hexdigest()
    context["version"] = labeler_version(task.version, content, previous)
    _write(root / "pyproject.toml", env.get_template("pyproject.toml.j2").render(**context))
    _write(package / "__init__.py", env.get_template("__init__.py.j2").render(**context))
    written = {**to_json(manifest), "generator": GENERATOR, "version": context["version"],
               "content_sha256": content, "artifacts": _artifacts(package)}
    _write(package / "manifest.json", json.dumps(written, indent=1, sort_keys=True) + "\n")
    readme = env.get_template("README.md.j2").render(
        **context, programs=programs, metrics=manifest.metrics, cost=manifest.cost, **readme_context
    )
    _write(root / "README.md", readme)
    return written


def _column_shown(column: str | list[str]) -> str:
    """The input column as shown in the batch modules' docstrings (COLUMN if not plain)."""
    return column if isinstance(column, str) and re.fullmatch(r"[\w .-]+", column) else "COLUMN"


def _artifacts(package: Path) -> dict[str, str]:
    """sha256 of every file of the package folder, by relative path."""
    return {
        str(path.relative_to(package)): sha256_of(path)
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def labeler_version(declared: str | None, content: str, previous: dict | None) -> str:
    """task.yaml's `version`, else derived from the labeler in OUTDIR so that pip upgrades:
    1.0.0 for the first, the previous version for the same content (its `content_sha256`: the
    package files written with version "0"), else the previous one with its last number + 1."""
    if declared is not None:
        return declared
    if previous is None or not isinstance(previous.get("version"), str):
        return FIRST_VERSION
    if previous.get("content_sha256") == content:
        return previous["version"]
    release = re.match(r"\d+(\.\d+)*", previous["version"])
    if release is None:
        return FIRST_VERSION
    numbers = [int(n) for n in release.group().split(".")]
    return ".".join(map(str, [*numbers[:-1], numbers[-1] + 1]))


def build_wheel(root: Path) -> Path:
    """A reproducible wheel in root/dist, built by flit_core with no network."""
    dist = root / "dist"
    dist.mkdir(exist_ok=True)
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from flit_core.buildapi import build_wheel; "
         "print(build_wheel(sys.argv[1]))", str(dist)],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the wheel failed:\n{result.stderr[-2000:]}")
    return dist / result.stdout.strip().splitlines()[-1]


_CHECK_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from {import_name} import Labeler
inputs = json.load(open(sys.argv[2], encoding="utf-8"))
labeler = Labeler()
np.save(sys.argv[3], labeler.predict_proba(inputs))
np.save(sys.argv[4], labeler.votes(inputs))
labeler.close()
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def check_installed_labeler(
    wheel: Path, task: Task, inputs: list, expected_proba: np.ndarray, expected_votes: np.ndarray
) -> float:
    """Install the wheel into a scratch folder and run it in a fresh interpreter.

    It must reproduce the compiler's probabilities (max abs error returned) and votes exactly,
    and must not import torch, snorkel, libcst, sklearn or pandas.
    """
    with tempfile.TemporaryDirectory(prefix="alchemist-check-") as scratch:
        scratch = Path(scratch)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(scratch / "site")
        (scratch / "inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
        script = _CHECK_SCRIPT.format(import_name=task.import_name, heavy=HEAVY_MODULES)
        result = subprocess.run(
            [sys.executable, "-I", "-c", script, str(scratch / "site"), str(scratch / "inputs.json"),
             str(scratch / "proba.npy"), str(scratch / "votes.npy")],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the installed labeler failed:\n{result.stderr[-2000:]}")
        heavy = json.loads(result.stdout.strip().splitlines()[-1])
        if heavy:
            raise RuntimeError(f"the labeler imports {heavy}; it must need only numpy + onnxruntime")
        proba, votes = np.load(scratch / "proba.npy"), np.load(scratch / "votes.npy")
    if not np.array_equal(votes, expected_votes):
        raise RuntimeError("the installed labeler's program votes differ from the compiler's")
    error = float(np.abs(proba - expected_proba).max()) if len(proba) else 0.0
    if error > 1e-5:
        raise RuntimeError(f"the installed labeler's probabilities differ by {error:.2e}")
    return error


def replace_directory(built: Path, target: Path) -> None:
    """Move a fully built directory into place; an existing target is replaced only at the end."""
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, backup)
    os.replace(built, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
