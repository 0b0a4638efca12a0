"""Asking the LLM for programs: the conversation that links prompts, the LLM and vetting, and
the bookkeeping of every candidate program (`Candidates`).

Two-stage prompting for new programs (supplementary text first, then one request per slot), and
repair: a dropped program's conversation continues with why it was dropped, and valid rows it got
wrong or missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from alchemist_runtime.sandbox import ApplyResult

from . import prompts
from .analysis import ProgramStats
from .data import Dataset, Split
from .llm import LLMStage, Request
from .lockfile import Exchange
from .modality import get_modality
from .pins import pinned_programs
from .programs.build import (
    Program,
    Rejection,
    build_program,
    program_from_answer,
    program_from_file,
)
from .programs.extract import code_from_answer
from .shown import ShownRows, shown_source
from .task import Task

REPAIR_EXAMPLES = 5


@dataclass(frozen=True)
class Attempt:
    """One candidate program: where it came from, the exchange that wrote it, and the outcome."""

    origin: str  # "program 3 (keywords)", "program 3 (keywords), repair 1", "mine.py"
    strategy: str
    exchange: Exchange | None  # None for hand-written and pinned programs
    result: Program | Rejection
    slot: int | None = None  # the program slot it fills (0-based); None for hand-written ones
    source: int = 0  # the LLM source that wrote it (an index into task.sources)


@dataclass(frozen=True)
class Repair:
    """A dropped or rejected LLM attempt to ask again for: why, and the labeled rows its request
    shows (indices into the split shown.shown_source names, and as the prompt renders them)."""

    attempt: Attempt
    reason: str
    rows: list[int]
    examples: list[dict]


@dataclass
class Candidates:
    """Every attempt so far, the accepted programs (one vote column each, in order) and their
    votes by split, every exchange, and the labeled rows shown to the LLM."""

    shown: ShownRows
    attempts: list[Attempt] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)
    results: dict[str, ApplyResult] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # origin -> why it never ran
    repaired: set[str] = field(default_factory=set)  # origins already given a repair request

    def accept(self, attempts: list[Attempt]) -> list[Program]:
        """Record attempts; return the programs among them that are new (by content)."""
        new = []
        for attempt in attempts:
            self.attempts.append(attempt)
            result = attempt.result
            if isinstance(result, Rejection):
                self.rejected[attempt.origin] = "; ".join(result.reasons)
            elif any(p.name == result.name for p in self.programs + new):
                self.rejected[attempt.origin] = f"same source as {result.name}"
            else:
                new.append(result)
        self.programs += new
        return new

    def to_repair(self, votes: dict[str, np.ndarray], stats: list[ProgramStats], task: Task,
                  dataset: Dataset) -> list[Repair]:
        """LLM attempts not yet repaired that were rejected or dropped."""
        column = {p.name: j for j, p in enumerate(self.programs)}
        labeled = shown_source(dataset)
        repairs = []
        for attempt in self.attempts:
            if attempt.exchange is None or attempt.origin in self.repaired:
                continue
            reason, rows, program_votes = self.rejected.get(attempt.origin), [], None
            if reason is None:
                j = column[attempt.result.name]
                reason = stats[j].dropped
                if labeled is not None:
                    program_votes = votes[labeled.name][:, j]
                    rows = feedback_rows(program_votes, labeled.labels, len(task.classes))
            if reason is not None:
                repairs.append(Repair(attempt, reason, rows,
                                      feedback_examples(task, labeled, program_votes, rows)))
        return repairs

    def record_repairs(self, repairs: list[Repair], attempts: list[Attempt],
                       exchanges: list[Exchange]) -> list[Program]:
        """The replacement attempts of `repairs` (in order); returns their new programs."""
        self.exchanges += exchanges
        self.repaired |= {r.attempt.origin for r in repairs}
        for repair, attempt in zip(repairs, attempts):
            self.shown.add(attempt.origin, repair.rows)
        return self.accept(attempts)


def _provenance(exchange: Exchange, slot: int, source: str) -> dict:
    return {
        "origin": "llm",
        "program": slot + 1,
        "source": source,
        "model": exchange.model,
        "request_sha256": exchange.request_hash,
        "prompt_tokens": exchange.usage["prompt_tokens"],
        "completion_tokens": exchange.usage["completion_tokens"],
        "cost_usd": exchange.cost,
    }


def _attempt(task: Task, origin: str, strategy: str, exchange: Exchange, slot: int,
             source: int) -> Attempt:
    provenance = _provenance(exchange, slot, task.sources[source].label)
    result = program_from_answer(exchange.response, strategy, origin, provenance)
    return Attempt(origin, strategy, exchange, result, slot, source)


def ask_for_programs(task: Task, dataset: Dataset,
                     llm: LLMStage) -> tuple[list[Attempt], list[Exchange], list[int]]:
    """One attempt per program slot, every exchange made (first-stage ones included), and the
    rows of the labeled split (shown.shown_source) that the exemplars slots show. A pinned slot
    (programs.pin) takes its file and asks nothing."""
    pins = pinned_programs(task)
    slots = [slot for slot in prompts.plan_slots(task) if slot.index not in pins]
    inputs = get_modality(task.modality).describe(task, dataset)
    supplementary = dict(task.programs.supplementary)
    to_ask = sorted({s.strategy for s in slots} & set(prompts.ASKED_OF_LLM) - set(supplementary))
    first = llm.ask_all([
        Request(f"supplementary {s}", prompts.supplementary_request(task, s, inputs)) for s in to_ask
    ])
    supplementary |= {s: e.response for s, e in zip(to_ask, first)}
    labeled, exemplar_rows = shown_source(dataset), []
    if "exemplars" in {s.strategy for s in slots} - set(supplementary) and labeled is not None:
        exemplar_rows = prompts.exemplar_rows(labeled.labels, len(task.classes),
                                              task.programs.exemplars_per_class)
        supplementary["exemplars"] = prompts.exemplars_text(task, labeled, exemplar_rows)
    origins = [f"program {s.index + 1} ({s.strategy})" for s in slots]
    answers = llm.ask_all([
        Request(origin, prompts.program_request(task, slot, supplementary.get(slot.strategy), inputs),
                slot.source)
        for origin, slot in zip(origins, slots)
    ])
    attempts = [_attempt(task, o, s.strategy, e, s.index, s.source)
                for o, s, e in zip(origins, slots, answers)]
    attempts += [Attempt(p.origin, p.strategy, None, p.result, p.slot) for p in pins.values()]
    return sorted(attempts, key=lambda a: a.slot), list(first) + answers, exemplar_rows


def _repair_of(attempt: Attempt, attempts: list[Attempt]) -> str | None:
    """The repair attempt that replaced `attempt`: its origin and program name, if any."""
    pattern = re.escape(attempt.origin) + r", repair \d+"
    repair = next((a for a in attempts if re.fullmatch(pattern, a.origin)), None)
    if repair is None:
        return None
    return repair.origin + (f" ({repair.result.name})" if isinstance(repair.result, Program) else "")


def dropped_for_review(attempts: list[Attempt], rejected: dict[str, str],
                       stats: list[ProgramStats]) -> list[dict]:
    """Every program rejected by vetting or dropped after running, for the labeler's README:
    origin, name, reason, the source a reviewer can read, and the repair that replaced it."""
    reasons = {s.name: s.dropped for s in stats if not s.kept}
    entries = []
    for attempt in attempts:
        result = attempt.result
        name = result.name if isinstance(result, Program) else None
        reason = rejected.get(attempt.origin) or reasons.pop(name, None)
        if reason is None:
            continue
        source = result.source if name else (
            code_from_answer(attempt.exchange.response) if attempt.exchange else None)
        entries.append({"origin": attempt.origin, "name": name, "reason": reason, "source": source,
                        "replaced_by": _repair_of(attempt, attempts)})
    return entries + [  # precomputed weak-label columns
        {"origin": name, "name": None, "reason": reason, "source": None, "replaced_by": None}
        for name, reason in reasons.items()
    ]


def hand_written(path: Path) -> Attempt:
    return Attempt(path.name, "include", None, program_from_file(path))


def modality_programs(task: Task, dataset: Dataset) -> list[Attempt]:
    """Programs the modality writes itself (images: CLIP's zero-shot vote), vetted like any."""
    return [
        Attempt(origin, "builtin", None,
                build_program(code, "builtin", origin, {"origin": origin}, prefix=prefix))
        for origin, prefix, code in get_modality(task.modality).own_programs(task, dataset)
    ]


def feedback_rows(votes: np.ndarray, labels: np.ndarray, k: int) -> list[int]:
    """The labeled rows a repair request shows (deterministic): rows the program got wrong
    (first), then rows of its classes it abstained on, taking each class in turn (all classes for
    a program that never votes); at most REPAIR_EXAMPLES."""
    wrong = np.flatnonzero((votes >= 0) & (votes != labels))
    classes = np.unique(votes[votes >= 0]) if (votes >= 0).any() else np.arange(k)
    per_class = [np.flatnonzero((votes < 0) & (labels == c)) for c in classes]
    missed = [rows[i] for i in range(max(map(len, per_class), default=0))
              for rows in per_class if i < len(rows)]
    return [int(i) for i in [*wrong, *missed][:REPAIR_EXAMPLES]]


def feedback_examples(task: Task, split: Split, votes: np.ndarray, rows: list[int]) -> list[dict]:
    """`rows` of a labeled split as a repair request shows them: input, gold label, the vote."""
    render = get_modality(task.modality).render_input
    return [{"text": render(split.inputs[i]), "label": int(split.labels[i]), "vote": int(votes[i])}
            for i in rows]


def ask_for_repairs(task: Task, llm: LLMStage, repairs: list[Repair],
                    round_number: int) -> tuple[list[Attempt], list[Exchange]]:
    """A replacement attempt for each repair, and the exchanges made."""
    origins = [f"{r.attempt.origin}, repair {round_number}" for r in repairs]
    requests = [
        Request(origin, prompts.repair_request(
            task, r.attempt.exchange.messages, r.attempt.exchange.response, r.reason, r.examples),
            r.attempt.source)
        for origin, r in zip(origins, repairs)
    ]
    answers = llm.ask_all(requests)
    attempts = [_attempt(task, o, r.attempt.strategy, e, r.attempt.slot, r.attempt.source)
                for o, r, e in zip(origins, repairs, answers)]
    return attempts, answers
