"""`alchemist report LABELER -o report.html`: the evidence behind a labeler on one self-contained
page (no script, no network: styles inline, charts inline SVG, program sources highlighted here
with pygments). Everything comes from the labeler: manifest.json, label_model.json, programs/."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..resources import TEMPLATES
from . import charts
from .diff import program_name
from .evidence import label_model_accuracies, per_class
from .labeler import Labeler

NOT_RECORDED = "not recorded in this labeler's manifest.json (compiled by an older Alchemist)"


def write_report(labeler: Labeler, path: str | Path) -> None:
    Path(path).write_text(render_report(labeler), encoding="utf-8")


def render_report(labeler: Labeler) -> str:
    """The page's HTML."""
    return _environment().get_template("report.html.j2").render(**report_context(labeler))


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "report"),
                              undefined=jinja2.StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def report_context(labeler: Labeler) -> dict:
    manifest = labeler.manifest
    stems = [file.removesuffix(".py") for file in labeler.programs]
    labels = [charts.short_label(stem) for stem in stems]
    return {
        "manifest": manifest,
        "choice": manifest.get("label_model_choice"),
        "not_recorded": NOT_RECORDED,
        "programs": _programs(labeler),
        "program_bars": _program_bars(labeler, labels),
        "pairs": _pair_heatmaps(manifest, labels),
        "weights": _weights(labeler),
        "balance": _class_balance(manifest),
        "confusions": _confusions(manifest),
        "cost": manifest.get("cost"),
        "cost_chart": _cost_chart(manifest.get("cost")),
        "code_style": Markup(_formatter().get_style_defs(".code")),
    }


def _programs(labeler: Labeler) -> list[dict]:
    """Each program's file, strategy, diagnostics and highlighted source."""
    from pygments import highlight
    from pygments.lexers import PythonLexer

    diagnostics = {d["name"]: d for d in labeler.manifest.get("diagnostics", [])}
    strategies = {p["file"]: p.get("strategy") for p in labeler.manifest.get("programs", [])}
    return [{"file": file, "strategy": strategies.get(file), "stats": diagnostics.get(program_name(file), {}),
             "html": Markup(highlight(text, PythonLexer(), _formatter()))}
            for file, text in labeler.programs.items()]


@functools.cache
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="code", linenos=False)


def _program_bars(labeler: Labeler, labels: list[str]) -> Markup:
    diagnostics = {d["name"]: d for d in labeler.manifest.get("diagnostics", [])}
    stats = [diagnostics.get(program_name(file), {}) for file in labeler.programs]
    series = {"train coverage": [s.get("coverage") for s in stats],
              "valid accuracy where it votes": [s.get("valid_accuracy") for s in stats]}
    return Markup(charts.grouped_bars(labels, series, "programs", xlabel="share"))


def _pair_heatmaps(manifest: dict, labels: list[str]) -> dict | None:
    pairs = (manifest.get("evidence") or {}).get("program_pairs")
    if pairs is None:
        return None
    columns = [charts.short_label(c) for c in manifest.get("label_model_columns", [])] or labels
    return {key: Markup(charts.heatmap(pairs[key], columns, columns, f"pairs-{key}",
                                       xlabel="program", ylabel="program"))
            for key in ("overlap", "conflict")}


def _weights(labeler: Labeler) -> dict:
    """The label model's estimate of each column's accuracy (its weight), as a bar chart."""
    columns = labeler.manifest.get("label_model_columns", [])
    estimates = label_model_accuracies(labeler.label_model)
    equal = all(e is None for e in estimates)
    chart = None if equal else Markup(charts.grouped_bars(
        [charts.short_label(c) for c in columns], {"estimated accuracy": estimates},
        "weights", xlabel="accuracy the label model estimates"))
    return {"kind": labeler.label_model.get("kind"), "equal": equal, "chart": chart}


def _class_balance(manifest: dict) -> Markup | None:
    balance = (manifest.get("evidence") or {}).get("class_balance")
    if balance is None:
        return None
    series = {"train pseudo-labels (label model, covered rows)": _shares(balance["train_pseudo_labels"])}
    if balance.get("valid_gold") is not None:
        series["valid gold labels"] = _shares(balance["valid_gold"])
    return Markup(charts.grouped_bars(manifest["classes"], series, "balance", xlabel="share of rows"))


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts) or 1
    return [c / total for c in counts]


def _confusions(manifest: dict) -> list[dict]:
    """Per (split, model): the confusion matrix as a heatmap and per-class precision/recall/F1."""
    classes = manifest["classes"]
    found = []
    for m in manifest.get("metrics", []):
        if "confusion" not in m:
            continue
        name = f"confusion-{m['split']}-{m['model'].replace(' ', '-')}"
        found.append({"split": m["split"], "model": m["model"], "metric": m,
                      "chart": Markup(charts.heatmap(m["confusion"], classes, classes, name,
                                                     xlabel="predicted", ylabel="gold", integers=True)),
                      "per_class": list(zip(classes, per_class(m["confusion"])))})
    return found


def _cost_chart(cost: dict | None) -> Markup | None:
    if not cost:
        return None
    values = [cost["cost_usd"], cost["zero_shot"]["cost_usd"]]
    return Markup(charts.grouped_bars(
        [f"programs ({cost['requests']} requests)", f"zero-shot estimate ({cost['zero_shot']['rows']} rows)"],
        {"USD": values}, "cost", xlabel="USD", xmax=max(values) or 1.0, value_format="${:.4f}"))
