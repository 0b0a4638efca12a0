"""A compiled labeler read for review: from its OUTDIR, its package folder (installed or not),
its wheel file, or the import name of an installed one."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib.metadata import distributions
from pathlib import Path

from ..errors import AlchemistError
from ..outdir import GENERATOR, labeler_manifest

#: reads a file of the labeler's import package by relative path; None when it is absent
Reader = Callable[[str], str | None]


class NotALabelerError(AlchemistError):
    """The path names no labeler Alchemist wrote."""


@dataclass(frozen=True)
class Labeler:
    """What a review reads of one labeler."""

    source: str  # the path or name the user gave
    manifest: dict
    label_model: dict  # label_model.json
    programs: dict[str, str]  # file name -> text, in the manifest's order
    dependencies: tuple[str, ...] | None  # None: no metadata found beside an installed package

    @property
    def version(self) -> str | None:
        return self.manifest.get("version")

    @property
    def classes(self) -> list[str]:
        return self.manifest.get("classes", [])


def load_labeler(where: str | Path) -> Labeler:
    """Read the labeler at `where`; NotALabelerError (one line naming it) if there is none."""
    source = str(where)
    path = Path(where).expanduser()
    if path.is_file() and path.suffix == ".whl":
        return _from_wheel(path, source)
    if path.is_dir() and labeler_manifest(path) is not None:  # an OUTDIR
        package = next((path / "src").iterdir())
        return _read(source, _folder_reader(package), _pyproject_dependencies(path / "pyproject.toml"))
    if path.is_dir() and (path / "manifest.json").is_file():  # a package folder
        return _read(source, _folder_reader(path), _installed_dependencies(path))
    if not path.exists() and re.fullmatch(r"[A-Za-z_]\w*", source):
        spec = importlib.util.find_spec(source)  # finds the installed package; runs none of it
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations)))
            return _read(source, _folder_reader(folder), _installed_dependencies(folder))
    raise NotALabelerError(f"{source}: not a labeler (expected an OUTDIR, a labeler's package "
                           "folder or wheel, or the import name of an installed labeler)")


def _read(source: str, read: Reader, dependencies: tuple[str, ...] | None) -> Labeler:
    try:
        manifest = json.loads(read("manifest.json") or "null")
        label_model = json.loads(read("label_model.json") or "{}")
    except ValueError as err:
        raise NotALabelerError(f"{source}: unreadable manifest.json or label_model.json ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        raise NotALabelerError(f"{source}: not a labeler (no manifest.json written by Alchemist)")
    files = [p["file"] for p in manifest.get("programs", [])]
    programs = {file: read(f"programs/{file}") or "" for file in files}
    return Labeler(source, manifest, label_model, programs, dependencies)


def _folder_reader(folder: Path) -> Reader:
    def read(relative: str) -> str | None:
        path = folder / relative
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return read


def _from_wheel(path: Path, source: str) -> Labeler:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise NotALabelerError(f"{source}: not a readable wheel ({err})") from None
    with archive:
        names = archive.namelist()
        top = next((n.split("/")[0] for n in names if re.fullmatch(r"[^/]+/manifest\.json", n)), None)
        if top is None:
            raise NotALabelerError(f"{source}: not a labeler's wheel (no manifest.json)")
        metadata = next((n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None)

        def read(relative: str) -> str | None:
            name = f"{top}/{relative}"
            return archive.read(name).decode("utf-8") if name in names else None

        requires = _requires_dist(archive.read(metadata).decode("utf-8")) if metadata else None
        return _read(source, read, requires)


def _pyproject_dependencies(path: Path) -> tuple[str, ...] | None:
    try:
        return tuple(tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"])
    except (OSError, ValueError, KeyError):
        return None


def _installed_dependencies(package: Path) -> tuple[str, ...] | None:
    """Requires-Dist of the distribution installed beside `package` that holds it, if any."""
    for dist in distributions(path=[str(package.parent)]):
        top_level = {Path(str(f)).parts[0] for f in dist.files or []}
        if package.name in top_level:
            return _requires_dist(dist.read_text("METADATA") or "")
    return None


def _requires_dist(metadata: str) -> tuple[str, ...]:
    return tuple(HeaderParser().parsestr(metadata).get_all("Requires-Dist") or ())
