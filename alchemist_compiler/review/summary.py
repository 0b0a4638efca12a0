"""`alchemist compile --json PATH`: a machine-readable summary of the compile for CI, checked
against schemas/compile-summary.schema.json (committed; tests validate real summaries).

Unlike the labeler, the summary is about this run: it holds absolute paths and timings."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import AlchemistError
from ..resources import ROOT
from .diff import program_name
from .provenance import features_choice

SCHEMA_PATH = ROOT / "schemas" / "compile-summary.schema.json"
FORMAT = "alchemist-compile-summary/1"


def compile_summary(task_path: str | Path, out_dir: Path, wheel: str, manifest: dict,
                    rejected: dict[str, str], spending: dict, timings: dict[str, float],
                    changes: dict | None) -> dict:
    """The summary of a compile that wrote a labeler (`changes`: the diff against the labeler
    OUTDIR held before, if any)."""
    package = out_dir / "src" / manifest["import_name"]
    files = {program_name(p["file"]): p["file"] for p in manifest["programs"]}
    programs = [{**stats, "file": files.get(stats["name"]), "kept": stats["dropped"] is None}
                for stats in manifest["diagnostics"]]
    return {
        "format": FORMAT,
        "status": "ok",
        "error": None,
        "task": str(task_path),
        "labeler": {"name": manifest["name"], "version": manifest["version"],
                    "import_name": manifest["import_name"]},
        "output": {"dir": str(out_dir), "wheel": str(out_dir / "dist" / wheel),
                   "manifest": str(package / "manifest.json"), "readme": str(out_dir / "README.md")},
        "programs": programs,
        "rejected": [{"origin": origin, "reason": reason} for origin, reason in rejected.items()],
        "label_model": manifest["label_model_choice"],
        "features": features_choice(manifest["distill"]),
        "metrics": manifest["metrics"],
        "cost": manifest["cost"],
        "llm": spending,
        "timings_s": timings,
        "changes": changes,
    }


def error_summary(task_path: str | Path, message: str) -> dict:
    """The summary of a compile that stopped on an error (nothing was written to OUTDIR)."""
    return {"format": FORMAT, "status": "error", "error": message, "task": str(task_path)}


def check_summary_path(path: str | Path | None, out_dir: Path) -> None:
    """The summary must not go inside OUTDIR: the compile replaces that folder."""
    if path is not None and out_dir in (Path(path).expanduser().resolve(), *Path(path).expanduser().resolve().parents):
        raise AlchemistError(f"--json {path}: inside OUTDIR {out_dir}, which the compile replaces; "
                             "write the summary elsewhere")


def write_summary(path: str | Path, summary: dict) -> None:
    Path(path).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
