"""Where a compile may write: OUTDIR is replaced only when nothing of the user's can be lost.

OUTDIR may be replaced when it does not exist, is empty, or is a labeler Alchemist wrote (the
emitted layout, with `"generator": "alchemist"` in its manifest). `force` also allows any other
folder, but never one that is or contains the task file, a data file, an included program, the
lock file, the current directory or the home directory (symlinks resolved).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .errors import OutputDirError
from .task import Task

GENERATOR = "alchemist"
#: What an emitted labeler holds at its top level (emit.write_package and build_wheel).
LABELER_LAYOUT = frozenset({"pyproject.toml", "README.md", "src", "dist"})


def _protected(task: Task) -> list[tuple[Path, str]]:
    """(path, what it is) of everything a compile must never delete."""
    data = [(getattr(task.data, s), f"data.{s}") for s in ("train", "valid", "test")]
    included = [(p, f"programs.include.{i}") for i, p in enumerate(task.programs.include)]
    return [
        (task.path, "the task file"), *[(p, w) for p, w in data if p is not None], *included,
        (task.lock_path, "the lock file"), (Path.cwd(), "the current directory"),
        (Path.home(), "the home directory"),
    ]


def _protection_reason(out: Path, task: Task) -> str | None:
    for path, what in _protected(task):
        path = path.resolve()
        if out == path:
            return f"it is {what}"
        if out in path.parents:
            return f"it contains {what}" if what.endswith("directory") else f"it contains {path.name} ({what})"
    return None


def labeler_manifest(folder: Path) -> dict | None:
    """The manifest of a labeler Alchemist wrote (the emitted layout, a manifest with the
    generator marker) in `folder`, else None."""
    if not folder.is_dir():
        return None
    names = {p.name for p in folder.iterdir()}
    packages = list((folder / "src").iterdir()) if (folder / "src").is_dir() else []
    if not names <= LABELER_LAYOUT or len(packages) != 1:
        return None
    try:
        manifest = json.loads((packages[0] / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("generator") == GENERATOR else None


def check_output_dir(out_dir: str | Path, task: Task, *, force: bool = False) -> Path:
    """The resolved OUTDIR if a compile may replace it; else OutputDirError naming path and reason."""
    out = Path(out_dir).expanduser().resolve()
    reason = _protection_reason(out, task)
    if reason is None and out.exists():
        if not out.is_dir():
            reason = "it exists and is not a folder"
        elif any(out.iterdir()) and labeler_manifest(out) is None and not force:
            reason = "it exists and is not a labeler Alchemist wrote (--force replaces it)"
    if reason is not None:
        raise OutputDirError(f"refusing to replace {out}: {reason}")
    return out


def make_build_dir(out: Path) -> Path:
    """An empty folder beside `out`, created with the user's umask (it becomes `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        build = out.with_name(f".{out.name}.build-{secrets.token_hex(4)}")
        try:
            os.mkdir(build, 0o777)
            return build
        except FileExistsError:
            continue
