"""Labeled rows shown to the LLM, and the valid rows left to choose with.

The exemplars strategy shows labeled rows in its prompt, and a repair request shows rows the
dropped program got wrong or missed. A row the LLM saw cannot judge a program fairly (one that
copies an exemplar's phrase is right on it). So the rows shown come from `data.exemplars` when it
is given; otherwise they are valid rows, and those are held out of every valid statistic that
chooses anything: the keep rule, the label model (class balance, weights, `auto`), `distill.features:
auto`, early stopping, and the valid metrics reported. Which rows were shown is deterministic (the
rules are in prompts.exemplar_rows and generate.feedback_rows) and recorded in manifest.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import Dataset, Split


def shown_source(dataset: Dataset) -> Split | None:
    """The labeled split whose rows the LLM may see: data.exemplars, else valid (None: neither)."""
    return dataset.exemplars if dataset.exemplars is not None else dataset.valid


@dataclass
class ShownRows:
    """Rows of the source split shown to the LLM, by what showed them (in the order shown)."""

    source: str | None  # "exemplars" or "valid"; None without labeled rows
    valid_rows: int  # rows in valid (0 without valid)
    shown: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: Dataset) -> ShownRows:
        source = shown_source(dataset)
        return cls(source and source.name, len(dataset.valid) if dataset.valid is not None else 0)

    def add(self, purpose: str, rows) -> None:
        """Record rows shown by `purpose` ("exemplars", "program 3 (keywords), repair 1")."""
        if len(rows):
            self.shown[purpose] = [int(i) for i in rows]

    def valid_rows_used(self) -> np.ndarray:
        """Indices of the valid rows that choose: every row the LLM has not seen."""
        used = np.ones(self.valid_rows, dtype=bool)
        if self.source == "valid":
            for rows in self.shown.values():
                used[rows] = False
        return np.flatnonzero(used)

    def for_selection(self, splits: dict[str, Split], votes: dict[str, np.ndarray]):
        """`splits` and `votes` as selection sees them: valid without the rows shown to the LLM
        (no valid at all when none is left)."""
        if "valid" not in splits:
            return splits, votes
        rows = self.valid_rows_used()
        splits, votes = dict(splits), dict(votes)
        if len(rows):
            splits["valid"], votes["valid"] = splits["valid"].take(rows), votes["valid"][rows]
        else:
            del splits["valid"], votes["valid"]
        return splits, votes

    def record(self) -> dict:
        """manifest.json's `selection_data`."""
        return {"shown_from": self.source, "shown": self.shown, "valid_rows": self.valid_rows,
                "valid_rows_used": len(self.valid_rows_used())}


def summary_line(record: dict) -> str:
    """`valid rows used to choose: 114 of 120; 6 held out because the LLM saw them: 6 in exemplars`."""
    what = "; ".join(f"{len(rows)} in {purpose}" for purpose, rows in record["shown"].items())
    if not record["shown"]:
        why = "the LLM saw no labeled row"
    elif record["shown_from"] == "valid":
        held = record["valid_rows"] - record["valid_rows_used"]
        why = f"{held} held out because the LLM saw them: {what}"
    else:
        why = f"the LLM saw rows of data.exemplars only: {what}"
    return f"valid rows used to choose: {record['valid_rows_used']} of {record['valid_rows']}; {why}"
