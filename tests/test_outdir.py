"""OUTDIR: replaced only when nothing of the user's can be lost; created with the user's umask."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HAM, SPAM, base_task, rows_of, write_jsonl, write_task
from openai_server import FakeOpenAI

from alchemist_compiler import emit
from alchemist_compiler.cli import main

PROGRAM = 'import re\n\ndef label(x):\n    return 1 if re.search(r"http|www|subscribe", x) else -1\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: task.yaml, a lock, data/ with the splits and a hand-written program."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    write_jsonl(root / "data" / "train.jsonl", rows_of([HAM * 4, SPAM * 4]))
    write_jsonl(root / "data" / "valid.jsonl", rows_of([HAM, SPAM]))
    (root / "links.py").write_text(PROGRAM)
    paid = {"request_hash": "0" * 64, "model": "m", "messages": [], "params": {}, "response": "paid",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}, "cost": 0.01}
    (root / "alchemist.lock").write_text(json.dumps(paid) + "\n")
    task = base_task(programs={"count": 0, "include": ["links.py"], "min_coverage": 0.0})
    task["data"] = {"train": "data/train.jsonl", "valid": "data/valid.jsonl"}
    write_task(root, task)
    return root


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under root, with the sha256 of each file."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def compile_to(project: Path, out: Path | str, *extra: str):
    return CliRunner().invoke(main, ["compile", str(project / "task.yaml"), "-o", str(out), "--quiet",
                                     *extra])


def assert_refused(result, path: Path, reason: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output == f"error: refusing to replace {path.resolve()}: {reason}\n"


def make_labeler_like(folder: Path, generator: str | None = "alchemist") -> None:
    package = folder / "src" / "old_labeler"
    package.mkdir(parents=True)
    manifest = {} if generator is None else {"generator": generator}
    (package / "manifest.json").write_text(json.dumps(manifest))
    (folder / "pyproject.toml").write_text("[project]\n")


@pytest.mark.parametrize(("cwd", "target", "reason"), [
    ("project", "data", "it contains train.jsonl (data.train)"),
    ("project", "data/train.jsonl", "is a file"),
    ("project", ".", "it contains task.yaml (the task file)"),
    ("project", "..", "it contains task.yaml (the task file)"),  # the task's, lock's, data's ancestor
    ("project", "link-to-data", "it contains train.jsonl (data.train)"),
    ("work/here", ".", "it is the current directory"),
    ("work/here", "..", "it contains the current directory"),
])
@pytest.mark.parametrize("force", [False, True])
def test_protected_paths_are_refused_even_with_force(project, monkeypatch, cwd, target, reason, force):
    (project.parent / "work" / "here").mkdir(parents=True)
    (project.parent / "work" / "here" / "notes.txt").write_text("the user's")
    monkeypatch.chdir(project.parent / cwd)
    (project / "link-to-data").symlink_to(project / "data", target_is_directory=True)
    path = Path(target)
    before = tree(project.parent)
    result = compile_to(project, path, *(["--force"] if force else []))
    if reason == "is a file":  # click refuses a file before the compiler sees it
        assert result.exit_code == 2 and "is a file" in result.output
    else:
        assert_refused(result, path.resolve(), reason)
    assert tree(project.parent) == before


def test_the_task_folder_itself_is_refused(project, monkeypatch):
    monkeypatch.chdir(project.parent)
    before = tree(project.parent)
    assert_refused(compile_to(project, project), project, "it contains task.yaml (the task file)")
    assert tree(project.parent) == before


def test_home_directory_is_refused(project, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "todo.txt").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    before = tree(tmp_path)
    assert_refused(compile_to(project, "~", "--force"), home, "it is the home directory")
    assert_refused(compile_to(project, home.parent, "--force"), home.parent,
                   "it contains task.yaml (the task file)")
    assert tree(tmp_path) == before


def test_a_folder_that_is_not_a_labeler_needs_force(project, tmp_path):
    other = tmp_path / "results"
    other.mkdir()
    (other / "experiment.csv").write_text("a,b\n1,2\n")
    before = tree(tmp_path)
    assert_refused(compile_to(project, other), other,
                   "it exists and is not a labeler Alchemist wrote (--force replaces it)")
    assert tree(tmp_path) == before
    result = compile_to(project, other, "--force")
    assert result.exit_code == 0, result.output
    assert not (other / "experiment.csv").exists()
    manifest = json.loads(next(other.glob("src/*/manifest.json")).read_text())
    assert manifest["generator"] == "alchemist"
    again = compile_to(project, other)  # now a labeler: replaced without --force
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("change", [
    lambda folder: (folder / "notes.txt").write_text("mine"),  # a user's file beside the layout
    lambda folder: (next(folder.glob("src/*")) / "manifest.json").write_text("{}"),  # no marker
    lambda folder: (folder / "src" / "second").mkdir(),
])
def test_only_the_exact_labeler_layout_with_the_marker_counts_as_a_labeler(project, tmp_path, change):
    folder = tmp_path / "labeler"
    make_labeler_like(folder)
    change(folder)
    before = tree(tmp_path)
    assert_refused(compile_to(project, folder), folder,
                   "it exists and is not a labeler Alchemist wrote (--force replaces it)")
    assert tree(tmp_path) == before


def test_refused_before_any_llm_request(project, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "sk-test")
    with FakeOpenAI(lambda messages: "no") as server:
        task = base_task(llm={"model": "m", "api_key_env": "ALCHEMIST_TEST_KEY",
                              "base_url": server.base_url}, programs={"count": 2})
        task["data"] = {"train": "data/train.jsonl", "valid": "data/valid.jsonl"}
        write_task(project, task)
        result = compile_to(project, project / "data")
    assert result.exit_code == 2
    assert server.requests == []


def test_created_folder_follows_the_umask(project, tmp_path):
    out = tmp_path / "new" / "labeler"
    previous = os.umask(0o027)
    try:
        result = compile_to(project, out)
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "pyproject.toml").stat().st_mode) == 0o640


def test_files_put_into_outdir_during_the_compile_are_not_deleted(project, tmp_path, monkeypatch):
    out = tmp_path / "labeler"
    out.mkdir()
    check = emit.check_installed_labeler

    def user_writes_meanwhile(*args, **kwargs):
        (out / "draft.txt").write_text("written during the compile")
        return check(*args, **kwargs)

    monkeypatch.setattr(emit, "check_installed_labeler", user_writes_meanwhile)
    result = compile_to(project, out)
    assert result.exit_code == 2
    assert "is not a labeler Alchemist wrote" in result.output
    assert [p.name for p in out.iterdir()] == ["draft.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no build dir left


@pytest.mark.parametrize(("declared", "previous", "expected"), [
    (None, None, "1.0.0"),
    (None, {"version": "1.0.4", "content_sha256": "same"}, "1.0.4"),
    (None, {"version": "1.0.4", "content_sha256": "other"}, "1.0.5"),
    (None, {"version": "1.0.9", "content_sha256": "other"}, "1.0.10"),
    (None, {"version": "2.3", "content_sha256": "other"}, "2.4"),
    (None, {"version": "2.0.0rc1", "content_sha256": "other"}, "2.0.1"),
    ("3.1.0", {"version": "1.0.4", "content_sha256": "other"}, "3.1.0"),
])
def test_derived_versions_are_ones_pip_upgrades_to(declared, previous, expected):
    from packaging.version import Version

    assert emit.labeler_version(declared, "same", previous) == expected
    if previous is not None and previous["content_sha256"] != "same":
        assert Version(expected) > Version(previous["version"])


def versions_of(out: Path) -> tuple[str, str, str]:
    manifest = json.loads(next(out.glob("src/*/manifest.json")).read_text())
    wheel = next((out / "dist").glob("*.whl")).name
    return manifest["version"], wheel.split("-")[1], (out / "pyproject.toml").read_text()


def test_recompiling_into_a_labeler_keeps_or_bumps_its_version_with_the_content(project, tmp_path):
    out = tmp_path / "labeler"
    assert compile_to(project, out).exit_code == 0
    first = tree(out)
    assert versions_of(out)[:2] == ("1.0.0", "1.0.0")
    assert compile_to(project, out).exit_code == 0
    assert tree(out) == first  # same content: same version, same bytes
    (project / "links.py").write_text(PROGRAM.replace("subscribe", "subscribe|channel"))
    assert compile_to(project, out).exit_code == 0
    version, wheel_version, pyproject = versions_of(out)
    assert (version, wheel_version) == ("1.0.1", "1.0.1")
    assert 'version = "1.0.1"' in pyproject
    assert compile_to(project, tmp_path / "fresh").exit_code == 0  # a new folder starts again
    assert versions_of(tmp_path / "fresh")[0] == "1.0.0"
