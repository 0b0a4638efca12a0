"""`alchemist diff OLD NEW`: what changed between two labelers, in the order a reviewer reads it:
programs (added, removed, changed, with a unified diff), the label model (kind, each program's
estimated accuracy), metrics (label model and distilled model), cost, versions and dependencies.

One dict (`diff_labelers`) holds all of it; `--format json` prints it, `to_markdown` renders it
for a pull-request comment, and `summary_lines` gives the compile's short "changes" block.

Programs are matched by their code first (same code: unchanged, whatever its pNN number), then,
for hand-written programs, by name without the content hash (their file's name) when that is
unique on both sides, then by the most similar code of the same strategy (difflib ratio >= 0.5).
"""

from __future__ import annotations

import ast
import difflib
import re

from .evidence import label_model_accuracies, per_class
from .labeler import Labeler

SIMILAR = 0.5  # difflib ratio above which two programs of one strategy are one program changed
METRICS = ("coverage", "accuracy", "macro_f1")


def diff_labelers(old: Labeler, new: Labeler) -> dict:
    """Every difference between two labelers (see the module docstring), JSON-ready."""
    pairs, removed, added = match_programs(old, new)
    return {
        "old": _identity(old),
        "new": _identity(new),
        "programs": {
            "added": [_program_entry(new, f) for f in added],
            "removed": [_program_entry(old, f) for f in removed],
            "changed": [_changed_entry(old, new, o, n) for o, n in pairs if _code(old, o) != _code(new, n)],
            "unchanged": [n for o, n in pairs if _code(old, o) == _code(new, n)],
        },
        "label_model": _label_model_changes(old, new, pairs),
        "metrics": _metric_deltas(old, new),
        "cost": _cost_delta(old.manifest.get("cost", {}), new.manifest.get("cost", {})),
        "versions": _version_changes(old, new),
    }


def program_name(file: str) -> str:
    """`p03_general_1a2b3c4d.py` -> `general_1a2b3c4d` (the name diagnostics use)."""
    return re.sub(r"^p\d+_", "", file.removesuffix(".py"))


def match_programs(old: Labeler, new: Labeler) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(old file, new file) pairs of one program, then old files removed and new files added."""
    left, right = list(old.programs), list(new.programs)
    pairs = []

    def pair(match) -> None:
        for o in list(left):
            n = match(o)
            if n is not None:
                pairs.append((o, n))
                left.remove(o)
                right.remove(n)

    pair(lambda o: next((n for n in right if program_name(n) == program_name(o)), None))
    keys = {f: _unhashed(program_name(f)) for f in left + right}  # include_<file stem>
    pair(lambda o: next((n for n in right if keys[n] == keys[o] and _strategy(old, o) == "include"
                         and [keys[f] for f in left].count(keys[o]) == 1
                         and [keys[f] for f in right].count(keys[o]) == 1), None))
    for ratio, o, n in sorted(((_similarity(old, o, new, n), o, n) for o in left for n in right
                               if _strategy(old, o) == _strategy(new, n)), reverse=True):
        if ratio >= SIMILAR and o in left and n in right:
            pairs.append((o, n))
            left.remove(o)
            right.remove(n)
    return pairs, left, right


def _unhashed(name: str) -> str:
    return re.sub(r"_[0-9a-f]{8}$", "", name)


def _similarity(old: Labeler, o: str, new: Labeler, n: str) -> float:
    return difflib.SequenceMatcher(None, _code(old, o), _code(new, n)).ratio()


def _strategy(labeler: Labeler, file: str) -> str | None:
    return next((p.get("strategy") for p in labeler.manifest.get("programs", []) if p["file"] == file), None)


def _code(labeler: Labeler, file: str) -> str:
    """The program without its provenance docstring (what runs)."""
    text = labeler.programs[file]
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return text
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return "\n".join(text.splitlines()[body[0].end_lineno:]).strip() + "\n"
    return text


def provenance_line(text: str) -> str | None:
    """Who wrote the program: its docstring's "Written by ..." or "Hand-written: ..." line."""
    found = re.search(r"^(Written by .*|Hand-written: .*)$", text, re.MULTILINE)
    return found.group(1) if found else None


def _identity(labeler: Labeler) -> dict:
    return {"source": labeler.source, "name": labeler.manifest.get("name"), "version": labeler.version}


def _diagnostics(labeler: Labeler, file: str) -> dict:
    name = program_name(file)
    return next((d for d in labeler.manifest.get("diagnostics", []) if d.get("name") == name), {})


def _program_entry(labeler: Labeler, file: str) -> dict:
    stats = _diagnostics(labeler, file)
    return {"program": program_name(file), "file": file, "strategy": _strategy(labeler, file),
            "provenance": provenance_line(labeler.programs[file]),
            "coverage": stats.get("coverage"), "valid_accuracy": stats.get("valid_accuracy")}


def _changed_entry(old: Labeler, new: Labeler, o: str, n: str) -> dict:
    before, after = _diagnostics(old, o), _diagnostics(new, n)
    lines = difflib.unified_diff(old.programs[o].splitlines(keepends=True),
                                 new.programs[n].splitlines(keepends=True),
                                 fromfile=f"old/programs/{o}", tofile=f"new/programs/{n}")
    return {
        "program": program_name(n), "old_program": program_name(o), "file": n, "old_file": o,
        "strategy": _strategy(new, n), "provenance": provenance_line(new.programs[n]),
        "old_provenance": provenance_line(old.programs[o]),
        **{key: _change(before.get(key), after.get(key)) for key in ("coverage", "valid_accuracy")},
        "diff": "".join(lines),
    }


def _change(old, new) -> dict:
    delta = round(new - old, 6) if isinstance(old, (int, float)) and isinstance(new, (int, float)) else None
    return {"old": old, "new": new, "delta": delta}


def _label_model_changes(old: Labeler, new: Labeler, pairs: list[tuple[str, str]]) -> dict:
    """Kind and reason on each side; each program's estimated accuracy (None: not in that side's
    label model, or a kind that weighs votes equally)."""
    before, after = _estimates(old), _estimates(new)
    matched = dict(pairs)
    rows = [{"program": program_name(matched.get(o, o)),
             **_change(before.get(o), after.get(matched[o]) if o in matched else None)}
            for o in old.programs]
    rows += [{"program": program_name(n), **_change(None, after.get(n))}
             for n in new.programs if n not in matched.values()]
    return {"kind": _change(old.label_model.get("kind"), new.label_model.get("kind")),
            "reason": {"old": _reason(old), "new": _reason(new)},
            "programs": rows}


def _estimates(labeler: Labeler) -> dict[str, float | None]:
    """Program file -> its label-model accuracy estimate (columns are program stems)."""
    columns = labeler.manifest.get("label_model_columns", [])
    values = label_model_accuracies(labeler.label_model) if labeler.label_model else []
    return {f"{column}.py": value for column, value in zip(columns, values)}


def _reason(labeler: Labeler) -> str | None:
    return (labeler.manifest.get("label_model_choice") or {}).get("reason")


def _metric_deltas(old: Labeler, new: Labeler) -> list[dict]:
    """(split, model, metric) rows present on both sides; per-class F1 where both have
    confusion matrices, else F1 of class 1 for binary tasks."""
    before = {(m["split"], m["model"]): m for m in old.manifest.get("metrics", [])}
    rows = []
    for m in new.manifest.get("metrics", []):
        o = before.get((m["split"], m["model"]))
        if o is None:
            continue
        values = [(key, o.get(key), m.get(key)) for key in METRICS]
        if "confusion" in o and "confusion" in m and len(o["confusion"]) == len(m["confusion"]):
            f1 = zip(per_class(o["confusion"]), per_class(m["confusion"]))
            values += [(f"f1 {name}", a["f1"], b["f1"]) for name, (a, b) in zip(new.classes, f1)]
        elif len(new.classes) == 2:
            values.append((f"f1 {new.classes[1]}", o.get("f1_positive"), m.get("f1_positive")))
        rows += [{"split": m["split"], "model": m["model"], "metric": key, **_change(a, b)}
                 for key, a, b in values]
    return rows


def _cost_delta(old: dict, new: dict) -> dict:
    keys = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
    zero_shot = _change((old.get("zero_shot") or {}).get("cost_usd"), (new.get("zero_shot") or {}).get("cost_usd"))
    return {**{key: _change(old.get(key), new.get(key)) for key in keys}, "zero_shot_usd": zero_shot}


def _version_changes(old: Labeler, new: Labeler) -> dict:
    libraries = old.manifest.get("versions", {}), new.manifest.get("versions", {})
    names = sorted(set(libraries[0]) | set(libraries[1]))
    deps = set(old.dependencies or ()), set(new.dependencies or ())
    known = old.dependencies is not None and new.dependencies is not None
    return {
        "labeler": {"old": old.version, "new": new.version},
        "dependencies": {"added": sorted(deps[1] - deps[0]) if known else None,
                         "removed": sorted(deps[0] - deps[1]) if known else None},
        "libraries": [{"name": n, "old": libraries[0].get(n), "new": libraries[1].get(n)}
                      for n in names if libraries[0].get(n) != libraries[1].get(n)],
    }


def _num(value, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:+d}" if sign else str(value)
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _arrow(change: dict, digits: int = 3) -> str:
    text = f"{_num(change['old'], digits)} -> {_num(change['new'], digits)}"
    return text + (f" ({_num(change['delta'], digits, sign=True)})" if change["delta"] else "")


def to_markdown(diff: dict) -> str:
    """The diff as markdown, ready to post as a pull-request comment."""
    old, new = diff["old"], diff["new"]
    lines = [f"## Labeler changes: {new['name']} {old['version']} -> {new['version']}", "",
             f"`{old['source']}` -> `{new['source']}`", ""]
    lines += _programs_markdown(diff["programs"])
    lines += _label_model_markdown(diff["label_model"])
    lines += _metrics_markdown(diff["metrics"])
    lines += _cost_markdown(diff["cost"])
    lines += _versions_markdown(diff["versions"])
    return "\n".join(lines).rstrip() + "\n"


def _programs_markdown(programs: dict) -> list[str]:
    lines = ["### Programs", "", f"{_program_counts(programs)}.", ""]
    for entry in programs["changed"]:
        was = f" (was `{entry['old_program']}`)" if entry["old_program"] != entry["program"] else ""
        lines += [f"#### Changed: `{entry['program']}`{was}", "", f"{entry['provenance'] or ''}", "",
                  f"coverage {_arrow(entry['coverage'])}; valid accuracy {_arrow(entry['valid_accuracy'])}",
                  "", "```diff", entry["diff"].rstrip("\n"), "```", ""]
    for title, key in (("Added", "added"), ("Removed", "removed")):
        for entry in programs[key]:
            lines += [f"#### {title}: `{entry['program']}` ({entry['strategy']})", "",
                      f"{entry['provenance'] or ''}", "",
                      f"coverage {_num(entry['coverage'])}; valid accuracy {_num(entry['valid_accuracy'])}", ""]
    return lines


def _program_counts(programs: dict) -> str:
    def named(key: str) -> str:
        names = ", ".join(f"`{e['program']}`" for e in programs[key])
        return f"{len(programs[key])} {key}" + (f" ({names})" if names else "")

    return ", ".join([named("changed"), named("added"), named("removed"),
                      f"{len(programs['unchanged'])} unchanged"])


def _label_model_markdown(label_model: dict) -> list[str]:
    kind = label_model["kind"]
    same = kind["old"] == kind["new"]
    lines = ["### Label model", "",
             f"kind: {kind['new']}" + (" (unchanged)" if same else f" (was {kind['old']})")]
    if label_model["reason"]["new"]:
        lines[-1] += f"; {label_model['reason']['new']}"
    lines += ["", "| program | estimated accuracy, old | new | change |", "|---|---|---|---|"]
    lines += [f"| `{r['program']}` | {_num(r['old'])} | {_num(r['new'])} | {_num(r['delta'], sign=True)} |"
              for r in label_model["programs"]]
    return lines + [""]


def _metrics_markdown(metrics: list[dict]) -> list[str]:
    lines = ["### Metrics", "", "| split | model | metric | old | new | change |", "|---|---|---|---|---|---|"]
    lines += [f"| {m['split']} | {m['model']} | {m['metric']} | {_num(m['old'])} | {_num(m['new'])} | "
              f"{_num(m['delta'], sign=True)} |" for m in metrics]
    return lines + [""]


def _cost_markdown(cost: dict) -> list[str]:
    lines = ["### Cost", "", "| | old | new | change |", "|---|---|---|---|"]
    for key, label, digits in (("requests", "LLM requests", 0), ("prompt_tokens", "prompt tokens", 0),
                               ("completion_tokens", "completion tokens", 0),
                               ("cost_usd", "cost (USD)", 4), ("zero_shot_usd", "zero-shot estimate (USD)", 4)):
        c = cost[key]
        lines.append(f"| {label} | {_num(c['old'], digits)} | {_num(c['new'], digits)} | "
                     f"{_num(c['delta'], digits, sign=True)} |")
    return lines + [""]


def _versions_markdown(versions: dict) -> list[str]:
    labeler, deps = versions["labeler"], versions["dependencies"]
    lines = ["### Versions and dependencies", "", f"labeler: {labeler['old']} -> {labeler['new']}", ""]
    if deps["added"] is None:
        lines += ["dependencies: not known for an installed labeler without its metadata", ""]
    else:
        lines += [f"dependencies added: {', '.join(deps['added']) or 'none'}; "
                  f"removed: {', '.join(deps['removed']) or 'none'}", ""]
    if versions["libraries"]:
        lines += ["| compiler or library | old | new |", "|---|---|---|"]
        lines += [f"| {v['name']} | {v['old'] or '-'} | {v['new'] or '-'} |" for v in versions["libraries"]]
    else:
        lines.append("compiler and library versions: unchanged")
    return lines + [""]


def summary_lines(diff: dict) -> list[str]:
    """The compile's short block: what changed against the labeler OUTDIR held before."""
    versions = diff["versions"]["labeler"]
    lines = [f"changes against the previous labeler ({versions['old']} -> {versions['new']}):",
             f"  programs: {_program_counts(diff['programs'])}".replace("`", "")]
    kind = diff["label_model"]["kind"]
    if kind["old"] != kind["new"]:
        lines.append(f"  label model: {kind['old']} -> {kind['new']}")
    split = "test" if any(m["split"] == "test" for m in diff["metrics"]) else "valid"
    moved = [m for m in diff["metrics"]
             if m["delta"] and m["split"] == split and m["metric"] in ("accuracy", "macro_f1")]
    lines += [f"  {m['split']} {m['model']} {m['metric']}: {_arrow(m)}" for m in moved]
    if diff["cost"]["cost_usd"]["delta"]:
        lines.append(f"  LLM cost of the programs: ${_arrow(diff['cost']['cost_usd'], 4)}")
    return lines
