"""Shared by the benchmark scripts: variants of a bundled example's task, and test metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def variant_task(name: str, folder: Path, **sections: dict) -> Path:
    """examples/<name>/task.yaml with `sections` merged into its keys (data paths made absolute),
    written to `folder` beside a copy of the example's lock."""
    example = ROOT / "examples" / name
    task = yaml.safe_load((example / "task.yaml").read_text())
    task["data"] = {**task["data"], **{s: str(example / task["data"][s]) for s in ("train", "valid", "test")}}
    for key, values in sections.items():
        task[key] = {**task.get(key, {}), **values}
    (folder / "alchemist.lock").write_bytes((example / "alchemist.lock").read_bytes())
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


def test_metric(manifest: dict, model: str, key: str) -> float:
    """A metric of the label model or the distilled model on the test split."""
    return next(m[key] for m in manifest["metrics"] if m["split"] == "test" and m["model"] == model)
