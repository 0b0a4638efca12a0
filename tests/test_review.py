"""Reviewing labelers: `alchemist diff`, `alchemist report`, `compile --json` and `--quiet`, on two
compiles of a tiny task that differ in one program (the second compiled over the first)."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from conftest import HAM, SPAM, base_task, rows_of, schema_errors, write_jsonl, write_task

from alchemist_compiler.cli import main
from alchemist_compiler.review.labeler import load_labeler

PROGRAMS = {
    "links": 'import re\n\ndef label(x):\n    return 1 if re.search(r"http|www", x) else -1\n',
    "subscribe": 'def label(x):\n    return 1 if "subscribe" in x.lower() else -1\n',
    "song": 'def label(x):\n    return 0 if "song" in x or "video" in x else -1\n',
}
CHANGED_LINKS = 'import re\n\ndef label(x):\n    return 1 if re.search(r"http|www|click", x) else -1\n'


def tiny_task(folder: Path, programs: dict[str, str]) -> Path:
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", rows_of([HAM * 4, SPAM * 4]))
    write_jsonl(folder / "valid.jsonl", rows_of([HAM, SPAM]))
    write_jsonl(folder / "test.jsonl", rows_of([HAM[::-1], SPAM[::-1]]))
    for name, source in programs.items():
        (folder / f"{name}.py").write_text(source)
    task = base_task(programs={"count": 0, "include": [f"{n}.py" for n in programs], "min_coverage": 0.0})
    return write_task(folder, task)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> SimpleNamespace:
    """The old labeler (compiled --quiet), and the new one compiled over a copy of it with
    links.py changed (--json)."""
    root = tmp_path_factory.mktemp("review")
    old_task = tiny_task(root / "old_task", PROGRAMS)
    new_task = tiny_task(root / "new_task", {**PROGRAMS, "links": CHANGED_LINKS})
    old, new, summary = root / "old", root / "new", root / "summary.json"
    first = CliRunner().invoke(main, ["compile", str(old_task), "-o", str(old), "--quiet"])
    assert first.exit_code == 0, first.output
    shutil.copytree(old, new)
    second = CliRunner().invoke(main, ["compile", str(new_task), "-o", str(new), "--json", str(summary)])
    assert second.exit_code == 0, second.output
    return SimpleNamespace(old=old, new=new, quiet_output=first.output, output=second.output,
                           summary=json.loads(summary.read_text()))


def manifest_of(labeler: Path) -> dict:
    return json.loads(next(labeler.glob("src/*/manifest.json")).read_text())


def diff_json(old, new) -> dict:
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_diff_names_exactly_the_changed_program_and_its_metric_change(compiled):
    diff = diff_json(compiled.old, compiled.new)
    programs = diff["programs"]
    assert (programs["added"], programs["removed"]) == ([], [])
    [changed] = programs["changed"]
    assert changed["program"].startswith("include_links_") and changed["old_program"].startswith("include_links_")
    assert len(programs["unchanged"]) == 2 and not any("links" in p for p in programs["unchanged"])
    assert changed["provenance"] == "Hand-written: include:links.py."
    lines = changed["diff"].splitlines()
    assert any("click" in line for line in lines if line.startswith("+") and not line.startswith("+++"))
    assert any("http|www" in line for line in lines if line.startswith("-") and not line.startswith("---"))
    before = {d["name"]: d for d in manifest_of(compiled.old)["diagnostics"]}[changed["old_program"]]
    after = {d["name"]: d for d in manifest_of(compiled.new)["diagnostics"]}[changed["program"]]
    assert changed["coverage"] == {"old": before["coverage"], "new": after["coverage"],
                                   "delta": round(after["coverage"] - before["coverage"], 6)}
    assert changed["coverage"]["delta"] > 0  # "click" adds train rows
    old_metrics = {(m["split"], m["model"]): m for m in manifest_of(compiled.old)["metrics"]}
    for row in diff["metrics"]:
        if row["metric"] == "coverage":
            assert row["old"] == old_metrics[(row["split"], row["model"])]["coverage"]
    label_model_coverage = next(r for r in diff["metrics"] if r["split"] == "test"
                                and r["model"] == "label model" and r["metric"] == "coverage")
    assert label_model_coverage["delta"] > 0
    assert {r["metric"] for r in diff["metrics"]} == {"coverage", "accuracy", "macro_f1", "f1 ham", "f1 spam"}
    assert diff["versions"]["labeler"] == {"old": "1.0.0", "new": "1.0.1"}
    assert diff["versions"]["dependencies"] == {"added": [], "removed": []}


def test_diff_markdown_shows_one_changed_program_with_its_unified_diff(compiled):
    result = CliRunner().invoke(main, ["diff", str(compiled.old), str(compiled.new)])
    assert result.exit_code == 0
    headings = re.findall(r"^#### (.*)$", result.stdout, re.MULTILINE)
    assert len(headings) == 1 and headings[0].startswith("Changed: `include_links_")
    block = re.search(r"```diff\n(.*?)```", result.stdout, re.DOTALL).group(1)
    assert block.startswith("--- old/programs/p01_include_links_")
    for section in ("### Programs", "### Label model", "### Metrics", "### Cost", "### Versions"):
        assert section in result.stdout


def test_diff_reads_wheels_and_package_folders_like_outdirs(compiled):
    from_folders = diff_json(compiled.old, compiled.new)
    wheel = next((compiled.old / "dist").glob("*.whl"))
    package = next((compiled.new / "src").iterdir())
    mixed = diff_json(wheel, package)
    assert mixed["programs"] == from_folders["programs"]
    assert mixed["metrics"] == from_folders["metrics"]
    assert mixed["versions"]["dependencies"] == {"added": None, "removed": None}  # no metadata beside src/


def test_a_labeler_against_itself_has_no_changes(compiled):
    diff = diff_json(compiled.new, compiled.new)
    assert diff["programs"]["changed"] == diff["programs"]["added"] == diff["programs"]["removed"] == []
    assert all(row["delta"] == 0 for row in diff["metrics"] + diff["label_model"]["programs"])


@pytest.mark.parametrize("command", [["diff", "{labeler}", "{other}"], ["report", "{other}", "-o", "r.html"]])
def test_a_path_that_is_not_a_labeler_is_one_line_and_exit_2(compiled, tmp_path, command):
    other = tmp_path / "not_a_labeler"
    other.mkdir()
    (other / "manifest.json").write_text('{"name": "x"}')
    args = [a.format(labeler=compiled.new, other=other) for a in command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr == f"error: {other}: not a labeler (no manifest.json written by Alchemist)\n"


def test_compiling_over_a_labeler_prints_the_changes_before_the_final_line(compiled):
    lines = compiled.output.splitlines()
    start = lines.index("changes against the previous labeler (1.0.0 -> 1.0.1):")
    assert re.fullmatch(r"  programs: 1 changed \(include_links_\w+\), 0 added, 0 removed, 2 unchanged",
                        lines[start + 1])
    assert lines[-1].startswith(f"wrote {compiled.new} (wheel: dist/")
    assert compiled.summary["changes"]["programs"] == diff_json(compiled.old, compiled.new)["programs"]


def test_quiet_prints_only_the_final_line(compiled):
    assert compiled.quiet_output.splitlines() == [
        f"wrote {compiled.old} (wheel: dist/tiny_spam_labeler-1.0.0-py3-none-any.whl)"]


def test_piped_output_keeps_whole_table_headers(compiled):
    header = next(line for line in compiled.output.splitlines() if "program" in line and "kept" in line)
    for column in ("cover", "overlap", "conflict", "valid acc", "votes", "exc/t.o./inv"):
        assert column in header
    assert "…" not in compiled.output


def test_json_summary_validates_against_the_committed_schema(compiled):
    summary = compiled.summary
    assert schema_errors(summary) == []
    assert summary["output"]["dir"] == str(compiled.new)
    assert Path(summary["output"]["wheel"]).is_file() and Path(summary["output"]["manifest"]).is_file()
    assert [p["file"] for p in summary["programs"] if p["kept"]] == \
        [p["file"] for p in manifest_of(compiled.new)["programs"]]
    assert summary["metrics"] == manifest_of(compiled.new)["metrics"]
    assert summary["label_model"]["reason"] == "snorkel, as task.yaml's label_model.kind asks"
    assert summary["features"] == {"requested": "hashing", "name": "hashing", "candidates": None,
                                   "reason": "hashing, as task.yaml's distill.features asks"}
    for stage in ("apply", "label model fit", "training", "export", "wheel build", "installed check", "total"):
        assert summary["timings_s"][stage] >= 0


def test_the_schema_rejects_a_summary_missing_what_ci_reads(compiled):
    broken = {key: value for key, value in compiled.summary.items() if key != "metrics"}
    assert schema_errors(broken) == ["'metrics' is a required property"]
    assert schema_errors({**compiled.summary, "status": "done"}) != []


def test_a_failed_compile_writes_an_error_summary(tmp_path):
    task = tiny_task(tmp_path / "task", {"never": "def label(x):\n    return -1\n"})
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(main, ["compile", str(task), "-o", str(tmp_path / "out"), "--json", str(summary)])
    assert result.exit_code == 2
    written = json.loads(summary.read_text())
    assert written["status"] == "error" and written["error"].startswith("no program survived selection")
    assert schema_errors(written) == []


def test_json_inside_outdir_is_refused_before_any_work(task_dir, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o", str(out),
                                       "--json", str(out / "summary.json")])
    assert result.exit_code == 2 and "inside OUTDIR" in result.stderr
    assert not out.exists()


class _Page(html.parser.HTMLParser):
    """Tags, and every attribute that could make the page fetch something."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.references += [value for name, value in attrs if name in ("src", "href", "xlink:href")
                            and value and not value.startswith("#")]


def render_report(labeler: Path, out: Path) -> str:
    result = CliRunner().invoke(main, ["report", str(labeler), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_report_is_one_self_contained_deterministic_page(compiled, tmp_path):
    page = render_report(compiled.new, tmp_path / "report.html")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.references == [] and "script" not in parsed.tags
    assert re.findall(r"url\((?!#)", page) == [] and "@import" not in page  # only in-page references
    manifest = manifest_of(compiled.new)
    charts = 1 + 2 + 1 + 1 + len(manifest["metrics"]) + 1  # programs, pairs, weights, balance, confusions, cost
    assert parsed.tags.count("svg") == charts
    for program in manifest["programs"]:
        assert program["file"] in page
    assert 'class="code"' in page and '<span class="k">def</span>' in page  # highlighted here
    assert render_report(compiled.new, tmp_path / "again.html") == page


chromium = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")


@chromium
@pytest.mark.browser
def test_report_renders_its_charts_in_headless_chromium(compiled, tmp_path):
    from browser import load_page

    report = tmp_path / "report.html"
    render_report(compiled.new, report)
    sizes = "Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width * s.getBoundingClientRect().height)"
    page = load_page(report.as_uri(), sizes)
    assert page.requests == [report.as_uri()]
    assert page.errors == []
    assert len(page.value) == report.read_text().count("<svg") and min(page.value) > 10_000
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(page.screenshot)
    assert is_drawn(screenshot)


def is_drawn(png: Path) -> bool:
    """More than a blank page: many distinct colours."""
    from PIL import Image

    with Image.open(png) as image:
        return image.height > 2000 and len(image.convert("RGB").getcolors(1 << 20) or []) > 50


@chromium
@pytest.mark.browser
def test_the_browser_check_catches_requests_console_errors_and_exceptions(tmp_path):
    from browser import load_page

    page = tmp_path / "leaky.html"
    page.write_text('<img src="http://127.0.0.1:9/tracker.png"><script>console.error("boom");'
                    'undefined_function();</script>')
    load = load_page(page.as_uri())
    assert "http://127.0.0.1:9/tracker.png" in load.requests
    assert "boom" in load.errors
    assert any("undefined_function" in e for e in load.errors)


def markdown_tables(text: str) -> list[list[list[str]]]:
    """The tables of a markdown text, each as [header, row, ...] of cell texts."""
    from markdown_it import MarkdownIt

    tables, rows = [], None
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows is not None:
            rows[-1].append(token.content)
        elif token.type == "table_close":
            tables.append(rows)
            rows = None
    return tables


def table_starting(tables: list, *header: str) -> list[list[str]]:
    return next(t for t in tables if t[0][:len(header)] == list(header))


def test_labeler_readme_parses_into_the_expected_tables(compiled):
    from alchemist_compiler.review.evidence import label_model_accuracies, per_class

    labeler = load_labeler(compiled.new)
    manifest = labeler.manifest
    tables = markdown_tables((compiled.new / "README.md").read_text())
    programs = table_starting(tables, "program", "strategy")
    assert [row[0] for row in programs[1:]] == [f"`{p['file']}`" for p in manifest["programs"]]
    assert [row[6] for row in programs[1:]] == [f"{w:.3f}" for w in label_model_accuracies(labeler.label_model)]
    metrics = table_starting(tables, "split", "model", "coverage")
    assert metrics[0] == ["split", "model", "coverage", "accuracy", "macro F1", "F1 (spam)"]
    assert [row[:2] for row in metrics[1:]] == [[m["split"], m["model"]] for m in manifest["metrics"]]
    assert table_starting(tables, "split", "model", "class")[1:] == [
        [m["split"], m["model"], name, *(f"{r[k]:.3f}" for k in ("precision", "recall", "f1")), str(r["support"])]
        for m in manifest["metrics"] for name, r in zip(manifest["classes"], per_class(m["confusion"]))]
    shown = next(m for m in manifest["metrics"] if (m["split"], m["model"]) == ("test", "distilled"))
    assert table_starting(tables, "gold / predicted")[1:] == [
        [name, *map(str, counts)] for name, counts in zip(manifest["classes"], shown["confusion"])]
