"""Stage 3: render the chat messages for each program slot (templates/prompts/).

The paper's prompt has three parts (task description, labeling instructions, function signature);
each slot adds one kind of supplementary information, cycling through the task's strategies.
Supplementary text the user did not write is asked of the LLM first (two-stage prompting); the
answer is reused by every slot of that strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from alchemist_runtime.policy import load_policy

from .data import Split
from .modality import get_modality
from .resources import template_env
from .task import Task

HEADINGS = {
    "description": "What each class looks like",
    "exemplars": "Labeled examples",
    "keywords": "Indicative keywords",
    "rules": "Labeling rules",
}
#: Strategies whose supplementary text the LLM writes when the user gave none.
ASKED_OF_LLM = ("description", "keywords", "rules")

Messages = tuple[dict, ...]


@dataclass(frozen=True)
class Slot:
    """One program to ask for: its position, the supplementary strategy it uses, and the LLM
    source (an index into task.sources) that writes it."""

    index: int
    strategy: str
    source: int = 0


def plan_slots(task: Task) -> list[Slot]:
    """Slots cycle through the configured strategies for diversity, and are shared among the
    LLM sources by their `share`."""
    strategies = task.programs.strategies
    sources = slot_sources([s.share for s in task.sources], task.programs.count)
    return [Slot(i, strategies[i % len(strategies)], sources[i]) for i in range(task.programs.count)]


def slot_sources(shares: list[float], count: int) -> list[int]:
    """The source of each slot, by smooth weighted round robin: slot i goes to the source furthest
    below its share of the first i + 1 slots (ties to the earlier source). A slot's source does
    not depend on `count`, so raising it leaves the earlier slots' requests as they were."""
    total, given, chosen = sum(shares), [0] * len(shares), []
    for i in range(count):
        behind = [(i + 1) * share / total - given[s] for s, share in enumerate(shares)]
        source = max(range(len(shares)), key=lambda s: (behind[s], -s))
        given[source] += 1
        chosen.append(source)
    return chosen


def system_messages(user: str) -> Messages:
    system = template_env("prompts").get_template("system.j2").render().strip()
    return ({"role": "system", "content": system}, {"role": "user", "content": user.strip()})


def _context(task: Task, inputs: str) -> dict:
    """`inputs`: the modality's description of what `x` is (Modality.describe)."""
    return {"task": task, "modality": get_modality(task.modality), "input_description": inputs}


def supplementary_request(task: Task, strategy: str, inputs: str) -> Messages:
    """The first-stage question whose answer becomes the strategy's supplementary text."""
    template = template_env("prompts").get_template(f"supplementary_{strategy}.j2")
    return system_messages(template.render(**_context(task, inputs)))


def exemplar_rows(labels: np.ndarray, k: int, per_class: int) -> list[int]:
    """The rows the exemplars strategy shows: the first `per_class` rows of each class, class by
    class, in file order (deterministic)."""
    return [int(i) for c in range(k) for i in np.flatnonzero(labels == c)[:per_class]]


def exemplars_text(task: Task, split: Split, rows: list[int]) -> str:
    """The exemplars strategy's supplementary text: `rows` of a labeled split, with their labels."""
    modality = get_modality(task.modality)
    chosen = [{"label": int(split.labels[i]), "text": modality.render_input(split.inputs[i])}
              for i in rows]
    return template_env("prompts").get_template("exemplars.j2").render(task=task, exemplars=chosen)


def program_request(task: Task, slot: Slot, supplementary: str | None, inputs: str) -> Messages:
    """The messages asking for the program of one slot. They depend on the slot, not on how many
    slots there are: raising `count` leaves the earlier slots' requests (and lock entries) as
    they were."""
    template = template_env("prompts").get_template("program.j2")
    user = template.render(
        **_context(task, inputs),
        slot=slot.index,
        heading=HEADINGS.get(slot.strategy, ""),
        supplementary=(supplementary or "").strip(),
        allowed_imports=sorted({m.split(".")[0] for m in load_policy().modules}),
    )
    return system_messages(user)


def zero_shot_prompt(task: Task, inputs: str, rendered: str) -> str:
    """The per-row prompt of the paper's baseline (an LLM labels every row) around one rendered
    input; for cost estimates."""
    template = template_env("prompts").get_template("zero_shot.j2")
    return template.render(**_context(task, inputs), text=rendered)


def zero_shot_messages(task: Task, inputs: str, rendered: str) -> Messages:
    """The baseline's request for one row: the zero-shot prompt alone (what the ledger estimates)."""
    return ({"role": "user", "content": zero_shot_prompt(task, inputs, rendered).strip()},)


def repair_request(task: Task, original: Messages, answer: str, reason: str, examples: list[dict]) -> Messages:
    """The conversation so far, plus why the program was dropped and rows it got wrong or missed."""
    feedback = template_env("prompts").get_template("repair.j2").render(
        task=task, reason=reason, examples=examples
    )
    return (
        *original,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": feedback.strip()},
    )
