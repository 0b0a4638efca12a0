"""The image stage's questions to the LLM: visual concepts per class (the paper's Appendix B
prompt, templates/prompts/concepts.j2) and, with `vision.spurious: auto`, spurious features to
reject (spurious.j2). These two requests are all the LLM sees of an image task besides the
program requests: no image, no pixel and no file name is ever sent.

Answers are parsed tolerantly (JSON fenced or bare, anywhere in the answer; concepts as an object
per class, or a list of comparisons). A malformed answer gets one repair request in the same
conversation; both exchanges go through the LLM stage and the lock like every other.
"""

from __future__ import annotations

import json
import re

from .errors import LLMError
from .llm import LLMStage, Request
from .lockfile import Exchange
from .prompts import Messages, system_messages
from .resources import template_env
from .task import Task

CONCEPTS_PER_CLASS = 8
SPURIOUS_COUNT = 5
MAX_CONCEPT_CHARS = 80
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_INPUTS = "The inputs are images (photos); describe what can be seen in them."


def _json_values(answer: str) -> list:
    """Every JSON value found in the answer: fenced blocks first, then the outermost {...} or
    [...] spans of the bare text."""
    candidates = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    for opening, closing in ("{}", "[]"):
        start, end = answer.find(opening), answer.rfind(closing)
        if 0 <= start < end:
            candidates.append(answer[start:end + 1])
    values = []
    for text in candidates:
        try:
            values.append(json.loads(text.strip()))
        except json.JSONDecodeError:
            continue
    return values


def _phrases(value, where: str) -> list[str]:
    """A list of concept phrases (a single string is one phrase)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} is not a list of strings")
    phrases = [" ".join(v.split()) for v in value]
    too_long = next((p for p in phrases if len(p) > MAX_CONCEPT_CHARS), None)
    if too_long is not None:
        raise ValueError(f"{where}: {too_long[:40]!r}... is longer than {MAX_CONCEPT_CHARS} "
                         "characters (a concept is a short phrase)")
    return [p for p in phrases if p]


def _class_key(key: str, class_names: list[str]) -> str | None:
    folded = {n.casefold(): n for n in class_names}
    return folded.get(" ".join(str(key).split()).casefold())


def _per_class(value, class_names: list[str]) -> dict[str, list[str]]:
    """{class: [concepts]} from an object keyed by class name, or a list of comparisons: objects
    keyed by class name, or {"class": name, "concepts": [...]} items."""
    found: dict[str, list[str]] = {name: [] for name in class_names}
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("expected a JSON object with one key per class")
        if "class" in item and "concepts" in item:
            item = {item["class"]: item["concepts"]}
        for key, concepts in item.items():
            name = _class_key(key, class_names)
            if name is None:
                raise ValueError(f"{str(key)[:40]!r} is not a class ({', '.join(class_names)})")
            found[name] += _phrases(concepts, f"the concepts of {name!r}")
    return found


def parse_concepts(answer: str, class_names: list[str]) -> dict[str, list[str]]:
    """Concepts per class from an answer; ValueError saying what is wrong."""
    values = _json_values(answer)
    if not values:
        raise ValueError("no JSON object found")
    problems = []
    for value in values:
        try:
            found = _per_class(value, class_names)
        except ValueError as err:
            problems.append(str(err))
            continue
        missing = [name for name, concepts in found.items() if not concepts]
        if missing:
            problems.append(f"no concepts for {', '.join(map(repr, missing))}")
            continue
        return found
    raise ValueError(problems[0])


def parse_spurious(answer: str) -> list[str]:
    """A list of spurious-feature phrases from an answer; ValueError saying what is wrong."""
    for value in _json_values(answer):
        if isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))  # {"spurious": [...]}
        try:
            phrases = _phrases(value, "the answer")
        except ValueError:
            continue
        if phrases:
            return phrases
    raise ValueError("no JSON list of strings found")


def unique(concepts: list[str]) -> list[str]:
    """In order, without repeats (case and spaces ignored)."""
    seen, kept = set(), []
    for concept in concepts:
        key = concept.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(concept)
    return kept


def _render(name: str, **context) -> str:
    return template_env("prompts").get_template(name).render(**context)


def concept_request(task: Task) -> Messages:
    return system_messages(_render("concepts.j2", task=task, input_description=_INPUTS,
                                   per_class=CONCEPTS_PER_CLASS))


def spurious_request(task: Task) -> Messages:
    return system_messages(_render("spurious.j2", task=task, input_description=_INPUTS,
                                   count=SPURIOUS_COUNT))


def _ask_parsed(llm: LLMStage, purpose: str, messages: Messages, parse, repair: str, task: Task):
    """(parsed answer, exchanges): one request, and one repair request if it cannot be parsed."""
    first = llm.ask_all([Request(purpose, messages)])[0]
    try:
        return parse(first.response), [first]
    except ValueError as err:
        reason = str(err)
    conversation = (*messages, {"role": "assistant", "content": first.response},
                    {"role": "user", "content": _render(repair, task=task, reason=reason).strip()})
    second = llm.ask_all([Request(f"{purpose}, repair", conversation)])[0]
    try:
        return parse(second.response), [first, second]
    except ValueError as err:
        raise LLMError(f"{purpose}: the LLM's answer could not be read, even after a repair "
                       f"request: {err}") from None


def ask_concepts(task: Task, llm: LLMStage) -> tuple[dict[str, list[str]], list[Exchange]]:
    """Concepts per class, asked of the LLM."""
    def parse(answer: str) -> dict[str, list[str]]:
        return parse_concepts(answer, task.class_names)

    return _ask_parsed(llm, "concepts", concept_request(task), parse, "concepts_repair.j2", task)


def ask_spurious(task: Task, llm: LLMStage) -> tuple[list[str], list[Exchange]]:
    """Spurious features, asked of the LLM."""
    return _ask_parsed(llm, "spurious features", spurious_request(task), parse_spurious,
                       "spurious_repair.j2", task)
