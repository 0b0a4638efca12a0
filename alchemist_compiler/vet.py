"""`alchemist vet`: static vetting, then a short sandboxed run of each program on probe inputs.

Each file is first built as `alchemist compile` builds it (`programs.build.check_program`: main
guard dropped, entry point renamed to `label`, ruff normalization, vetted before and after), and
the verdict says what that changed. A file passes when it breaks no vetting rule and, run in the
sandbox on a few probe inputs of its modality, loads, never times out, never returns anything
but an int in [-1, k-1], and does not raise on every probe. Run-time findings use the rules
`runtime-load-error`, `runtime-timeout`, `runtime-invalid` and `runtime-exception`. Where the OS
cannot contain program processes (no seccomp), files are vetted statically only, and say so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alchemist_runtime.sandbox import ApplyResult, ContainmentUnavailable, ProgramPool

from .modality import get_modality
from .programs.build import check_program
from .programs.vetting import Violation

CALL_TIMEOUT_S = 1.0
STATIC_ONLY = "static checks only: programs cannot be contained by the OS here, so none was run"


@dataclass(frozen=True)
class Verdict:
    """Whether one file passed, and why not."""

    path: str
    findings: tuple[Violation, ...]
    changes: tuple[str, ...] = ()  # what the build changed, e.g. "renamed classify -> label"
    ran: bool = True  # run on probe inputs (False: static checks only, see STATIC_ONLY)

    @property
    def passed(self) -> bool:
        return not self.findings

    def line(self) -> str:
        notes = [*self.changes, *([] if self.ran or self.findings else [STATIC_ONLY])]
        changed = f" ({'; '.join(notes)})" if notes else ""
        if self.passed:
            return f"PASS {self.path}{changed}"
        return f"FAIL {self.path}{changed}: " + "; ".join(describe(f) for f in self.findings)

    def as_json(self) -> dict:
        findings = [{"rule": f.rule, "line": f.line, "message": f.message} for f in self.findings]
        return {"path": self.path, "passed": self.passed, "changes": list(self.changes),
                "ran": self.ran, "findings": findings}


def describe(finding: Violation) -> str:
    prefix = f"line {finding.line}: " if finding.line else ""
    return f"{prefix}{finding.rule}: {finding.message}"


def probe_inputs(modality: str, path: Path | None = None) -> tuple[Any, ...]:
    """A few inputs of the modality's type for the dynamic check (the modality's own); for a
    program of an emitted labeler (programs/ beside manifest.json), shaped by its input spec
    (an image labeler's concepts)."""
    manifest = path.parent.parent / "manifest.json" if path is not None else None
    if manifest is not None and manifest.is_file():
        written = json.loads(manifest.read_text(encoding="utf-8"))
        if written.get("modality") == modality:
            return get_modality(modality).probe_inputs(written["input"])
    return get_modality(modality).probe_inputs()


def vet_files(
    paths: Sequence[str | Path],
    modality: str = "text",
    n_classes: int = 2,
    call_timeout: float = CALL_TIMEOUT_S,
) -> list[Verdict]:
    """One verdict per file, in order."""
    return [vet_file(Path(p), probe_inputs(modality, Path(p)), n_classes, call_timeout)
            for p in paths]


def vet_file(path: Path, probes: tuple, n_classes: int, call_timeout: float) -> Verdict:
    """Static rules first; only a file that passes them is run, as compile would run it."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Verdict(str(path), (Violation("unreadable", 0, str(error)),))
    checked = check_program(source)
    if checked.violations:
        return Verdict(str(path), tuple(checked.violations), checked.changes)
    try:
        findings = run_findings(checked.source, probes, n_classes, call_timeout)
    except ContainmentUnavailable:
        return Verdict(str(path), (), checked.changes, ran=False)
    return Verdict(str(path), tuple(findings), checked.changes)


def run_findings(source: str, probes: tuple, n_classes: int, call_timeout: float) -> list[Violation]:
    """What goes wrong when the program labels the probes in its own sandbox pool."""
    with ProgramPool([source], n_classes, workers=1, call_timeout=call_timeout) as pool:
        result = pool.apply(probes)
    return column_findings(result, 0, len(probes), n_classes)


def column_findings(result: ApplyResult, j: int, n: int, n_classes: int) -> list[Violation]:
    """Run-time findings for program j of an apply over n probe inputs."""
    if result.load_errors[j] is not None:
        return [Violation("runtime-load-error", 0, result.load_errors[j])]
    findings = []
    if result.timeouts[j]:
        message = f"timed out on {result.timeouts[j]} of {n} probe inputs"
        findings.append(Violation("runtime-timeout", 0, message))
    if result.invalid[j]:
        message = (f"returned something other than an int in [-1, {n_classes - 1}] "
                   f"on {result.invalid[j]} of {n} probe inputs")
        findings.append(Violation("runtime-invalid", 0, message))
    if n and result.exceptions[j] == n:
        findings.append(Violation("runtime-exception", 0, f"raised on all {n} probe inputs"))
    return findings
