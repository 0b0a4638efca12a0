"""What the compile prints: the programs table and the summary (rich, on stderr)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from .analysis import ProgramStats
from .cost import CostLedger
from .metrics import Metrics


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_programs_table(console: Console, stats: list[ProgramStats]) -> None:
    table = Table(title="programs", title_justify="left")
    table.add_column("program", no_wrap=True)
    for column in ("cover", "overlap", "conflict", "valid acc", "votes", "exc/t.o./inv", "kept"):
        table.add_column(column)
    for s in stats:
        table.add_row(
            s.name, _fmt(s.coverage), _fmt(s.overlap), _fmt(s.conflict),
            _fmt(s.valid_accuracy), str(s.valid_votes), f"{s.exceptions}/{s.timeouts}/{s.invalid}",
            "yes" if s.kept else "no",
        )
    console.print(table)
    for s in stats:
        if not s.kept:
            console.print(f"[yellow]dropped[/] {s.name}: {s.dropped}")


def print_summary(console: Console, metrics: list[Metrics], ledger: CostLedger, spending: dict) -> None:
    table = Table(title="metrics", title_justify="left")
    for column in ("split", "model", "coverage", "accuracy", "acc. covered", "macro F1", "F1 (class 1)"):
        table.add_column(column)
    for m in metrics:
        table.add_row(m.split, m.model, _fmt(m.coverage), _fmt(m.accuracy), _fmt(m.accuracy_covered),
                      _fmt(m.macro_f1), _fmt(m.f1_positive))
    console.print(table)
    console.print("accuracy: every row (the label model gives rows no program voted on its class "
                  "prior); acc. covered: only the rows it covers")
    print_llm_cost(console, ledger, spending)


def final_line(out_dir: Path, wheel: str) -> str:
    """The compile's last line, printed even with --quiet."""
    return f"[green]wrote[/] {out_dir} (wheel: dist/{wheel})"


def print_llm_cost(console: Console, ledger: CostLedger, spending: dict) -> None:
    """What this run spent, apart from what the programs cost when they were asked for."""
    console.print(f"LLM: {spending['from_lock']} from the lock, {spending['new']} new, "
                  f"${spending['spent_usd']:.4f} spent in this run")
    if ledger.requests:
        ratio = f", {ledger.ratio:.0f}x less than labeling every row" if ledger.ratio else ""
        console.print(
            f"LLM cost of these programs: {ledger.requests} requests, {ledger.prompt_tokens}+"
            f"{ledger.completion_tokens} tokens, ${ledger.cost_usd:.4f}{ratio} "
            f"(estimated ${ledger.zero_shot.cost_usd:.4f})"
        )
    if len(ledger.by_source) > 1:
        console.print("by source: " + "; ".join(
            f"{s.source} {s.requests} requests, ${s.cost_usd:.4f}" for s in ledger.by_source))
    if spending["lock_answers"]:
        console.print(f"{spending['lock_file']}: {spending['lock_answers']} answers, "
                      f"${spending['lock_cost_usd']:.4f} in all")


def print_groups(console: Console, metrics: list[Metrics]) -> None:
    """Worst-group accuracy, where the split has a group column."""
    for m in metrics:
        if m.worst_group is not None:
            console.print(f"{m.split} {m.model}: worst group {m.worst_group!r} accuracy "
                          f"{m.worst_group_accuracy:.3f}, {m.group_gap:.3f} below the average")
