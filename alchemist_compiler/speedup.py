"""Kept programs -> their faster rewrites (programs/optimize.py), where the votes are identical.

A rewrite replaces a program only if it passes vetting again and its votes equal the original's
on the modality's probe inputs and on every row of every split (train, valid, test), run in the
same sandbox (locally or on Dask). The program keeps its name (the hash of the original source,
which stays in alchemist.lock); its header says what was rewritten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .apply import ApplySettings, apply_programs
from .programs.build import Program, check_program
from .programs.optimize import optimize

MEMOIZE_MIN_REPEATS = 0.01  # memoize label when at least this share of train rows are repeats
MEMOIZE_SAMPLE_ROWS = 100_000  # the rows that decide it


def worth_memoizing(train_inputs: Sequence) -> bool:
    """Whether enough train inputs repeat an earlier one (text inputs: hashable strings), judged
    on the first MEMOIZE_SAMPLE_ROWS rows."""
    first = train_inputs[:MEMOIZE_SAMPLE_ROWS]
    if not first or not all(isinstance(x, str) for x in first):
        return False
    repeats = len(first) - len(set(first))
    return repeats >= MEMOIZE_MIN_REPEATS * len(first)


def speed_up(programs: list[Program], columns: list[int], inputs: dict[str, list],
             votes: dict[str, np.ndarray], k: int, settings: ApplySettings, probes: Sequence,
             text_input: bool) -> list[Program]:
    """`programs` (whose votes are `votes[split][:, columns[i]]`), each replaced by its rewrite
    where that is checked to vote identically."""
    memoize = text_input and worth_memoizing(inputs.get("train", []))
    rewrites = {}
    for i, program in enumerate(programs):
        rewrite = optimize(program.source, text_input=text_input, memoize=memoize)
        if rewrite is None:
            continue
        checked = check_program(rewrite.source)
        if not checked.violations:
            rewrites[i] = (checked.source, rewrite.changes)
    if not rewrites:
        return programs
    identical = _identical_votes(programs, columns, rewrites, inputs, votes, k, settings, probes)
    rows = sum(len(split) for split in inputs.values())
    checked_on = f"votes identical on {len(probes)} probe inputs and {rows} rows"
    return [dataclasses.replace(p, source=rewrites[i][0], changes=p.changes + (
                f"rewritten for speed ({checked_on}): " + "; ".join(rewrites[i][1]),))
            if i in identical else p for i, p in enumerate(programs)]


def _identical_votes(programs, columns, rewrites, inputs, votes, k, settings, probes) -> set[int]:
    """The rewritten programs whose votes equal the originals' everywhere."""
    order = sorted(rewrites)
    rewritten = [dataclasses.replace(programs[i], source=rewrites[i][0]) for i in order]
    originals = [programs[i] for i in order]
    on_probes = apply_programs(originals + rewritten, {"probes": list(probes)}, k, settings,
                               show_progress=False)["probes"]
    again = apply_programs(rewritten, inputs, k, settings, show_progress=False)
    identical = set()
    for c, i in enumerate(order):
        same = np.array_equal(on_probes.votes[:, c], on_probes.votes[:, len(order) + c]) and all(
            np.array_equal(again[name].votes[:, c], votes[name][:, columns[i]])
            for name in inputs)
        healthy = all(r.load_errors[c] is None and r.stopped[c] is None for r in again.values())
        if same and healthy:
            identical.add(i)
    return identical
