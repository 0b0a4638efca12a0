"""The cost ledger: what the programs cost, against the paper's baseline of one LLM call per row;
and what this run spent (answers replayed from the lock cost nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from .llm import LLMStage, cost_of, estimate_tokens
from .lockfile import Exchange
from .modality import get_modality
from .prompts import zero_shot_prompt
from .task import LLMSpec, Task

ZERO_SHOT_COMPLETION_TOKENS = 2  # a class index and an end token
ZERO_SHOT_SAMPLE_ROWS = 100_000  # above, the estimate renders evenly spaced rows and scales up


@dataclass(frozen=True)
class SourceCost:
    """One LLM source's requests, tokens and USD at its prices."""

    source: str
    model: str
    price_per_1k: dict
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class ZeroShotEstimate:
    """An estimate: the primary LLM labeling each train row, one request per row."""

    rows: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class CostLedger:
    """What the programs cost (all sources), against the zero-shot estimate."""

    model: str
    price_per_1k: dict
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    zero_shot: ZeroShotEstimate
    ratio: float | None  # zero-shot estimate / cost of the programs
    by_source: list[SourceCost]


def cost_ledger(task: Task, exchanges: list[Exchange], source_of: dict[str, int],
                train_inputs: list, inputs: str) -> CostLedger:
    """Tokens and USD of every exchange used, in all and by LLM source (`source_of`: request
    hash -> index into task.sources; each source at its own prices), and the estimate for labeling
    each train row with the primary source (`inputs`: the prompt's description of the input; the
    modality estimates each row; past ZERO_SHOT_SAMPLE_ROWS rows, evenly spaced ones scaled up)."""
    by_source = [_source_ledger(spec, [e for e in exchanges if source_of.get(e.request_hash, 0) == i])
                 for i, spec in enumerate(task.sources)]
    prompt_tokens = sum(s.prompt_tokens for s in by_source)
    completion_tokens = sum(s.completion_tokens for s in by_source)
    ours = sum(s.cost_usd for s in by_source)
    modality = get_modality(task.modality)

    def row_prompt_tokens(rendered: str) -> int:
        return estimate_tokens(zero_shot_prompt(task, inputs, rendered))

    step = -(-len(train_inputs) // ZERO_SHOT_SAMPLE_ROWS)  # 1 up to ZERO_SHOT_SAMPLE_ROWS rows
    sample = range(0, len(train_inputs), step)
    sampled = sum(modality.zero_shot_prompt_tokens(row_prompt_tokens, train_inputs[i]) for i in sample)
    zs_prompt = round(sampled * len(train_inputs) / len(sample)) if sample else 0
    zs_completion = ZERO_SHOT_COMPLETION_TOKENS * len(train_inputs)
    zero_shot = cost_of(task.llm, zs_prompt, zs_completion)
    return CostLedger(
        model=task.llm.model,
        price_per_1k=task.llm.price_per_1k.model_dump(),
        requests=len(exchanges),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=round(ours, 8),
        zero_shot=ZeroShotEstimate(len(train_inputs), zs_prompt, zs_completion, round(zero_shot, 8)),
        ratio=round(zero_shot / ours, 2) if ours > 0 else None,
        by_source=by_source,
    )


def _source_ledger(spec: LLMSpec, exchanges: list[Exchange]) -> SourceCost:
    prompt_tokens = sum(e.usage["prompt_tokens"] for e in exchanges)
    completion_tokens = sum(e.usage["completion_tokens"] for e in exchanges)
    return SourceCost(spec.label, spec.model, spec.price_per_1k.model_dump(), len(exchanges),
                      prompt_tokens, completion_tokens,
                      round(cost_of(spec, prompt_tokens, completion_tokens), 8))


def run_spending(llm: LLMStage) -> dict:
    """This run's answers from the lock and from the network, what it spent, and the lock's total.

    Printed only: the manifest holds the ledger, which does not depend on what was already locked.
    """
    return {
        "from_lock": len(llm.from_lock),
        "new": len(llm.fetched),
        "spent_usd": round(llm.spent_usd, 8),
        "lock_file": llm.lock.path.name,
        "lock_answers": len(llm.lock),
        "lock_cost_usd": round(llm.lock.total_cost, 8),
    }
