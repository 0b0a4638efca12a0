"""The `auto` choices that distill: each candidate is judged by the distilled model it makes.

- `label_model: auto` (label_model/auto.py): `distilled_judge` trains the distilled model on each
  candidate label model's soft labels, with the task's featurizer (the modality's default when
  `distill.features` is auto), and scores its probabilities on valid: what the labeler returns on
  every row, not only where programs vote, and what the soft labels are for.
- `distill.features: auto`: `distill_features` distills with every featurizer of the task's
  modality, in registration order, which is their cost order (text: hashing, minilm, both).

Both keep the default (snorkel; the modality's default featurizer) unless the rule in
alchemist_compiler.selection finds a candidate's valid Brier score better beyond chance (ties go to
the default, the cheaper). A featurizer whose extra is not installed is left out, and said so.
Without a labeled valid split, the defaults are used.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
from alchemist_runtime.label_model import predict_proba

from .distill import Distilled, distill
from .errors import AlchemistError
from .featurizers import get_featurizer, names_for
from .label_model import Judge
from .modality import MODALITIES
from .selection import describe, select
from .task import AUTO_FEATURES, DistillSpec, Task

BY = "distilled accuracy on valid"


@dataclass(frozen=True)
class DistillJob:
    """Everything a distillation needs but the featurizer and the soft labels."""

    kind: object  # the runtime modality
    spec: DistillSpec
    train_inputs: list  # the distilled rows' inputs
    seed: int
    valid_inputs: list | None
    valid_labels: np.ndarray | None
    stage: Callable[[str], AbstractContextManager] = field(default=lambda name: nullcontext())

    @property
    def has_valid(self) -> bool:
        return self.valid_inputs is not None and self.valid_labels is not None

    def run(self, featurizer: str, soft_labels: np.ndarray) -> Distilled:
        return distill(get_featurizer(featurizer), self.kind, self.spec, self.train_inputs, soft_labels,
                       seed=self.seed, valid_inputs=self.valid_inputs,
                       valid_labels=self.valid_labels, stage=self.stage)


def judge_featurizer(task: Task) -> str:
    """The featurizer `label_model: auto` distills with: the task's, or the modality's default."""
    return MODALITIES[task.modality].default_featurizer if task.featurizer == AUTO_FEATURES else task.featurizer


def distilled_judge(task: Task, job: DistillJob, votes: np.ndarray) -> tuple[Judge, dict[str, Distilled]]:
    """`label_model: auto`'s judge: params -> the valid probabilities of the model distilled
    from their soft labels of `votes` (the distilled rows' votes); and the models it trains, by
    label-model kind (the chosen one's is the compile's, when the featurizer is the same)."""
    name, models = judge_featurizer(task), {}
    quiet = replace(job, stage=lambda stage_name: nullcontext())  # inside the label model's stage

    def proba(params: dict) -> np.ndarray:
        models[params["kind"]] = quiet.run(name, predict_proba(params, votes))
        return models[params["kind"]].proba(job.valid_inputs, len(task.classes))

    return Judge(proba, f"{BY}, {name} features"), models


def distill_features(task: Task, console, job: DistillJob, soft_labels: np.ndarray,
                     trained: dict[str, Distilled]) -> tuple[Distilled, dict]:
    """The distilled model with the task's featurizer, or for `auto` the one the selection rule
    keeps, and the manifest's record of the choice ({"features": name} + "features_selection" for
    auto). `trained`: models already distilled from these soft labels, by featurizer."""
    def model(name: str) -> Distilled:
        return trained[name] if name in trained else job.run(name, soft_labels)

    if task.featurizer != AUTO_FEATURES:
        return model(task.featurizer), {"features": task.featurizer}
    default = MODALITIES[task.modality].default_featurizer
    if not job.has_valid:
        return model(default), {"features": default, "features_selection": {"by": "default: no labeled valid split"}}
    models, probabilities, skipped = {}, {}, {}
    for name in names_for(task.modality):
        try:
            models[name] = model(name)
        except AlchemistError as err:  # an extra that is not installed
            skipped[name] = str(err)
            continue
        probabilities[name] = models[name].proba(job.valid_inputs, len(task.classes))
    selection = select(probabilities, job.valid_labels, default)
    record = {**selection.record(BY), "candidates": list(probabilities),
              **({"skipped": skipped} if skipped else {})}
    console.print(f"features auto: {selection.chosen}: {describe(record, selection.chosen)}")
    return models[selection.chosen], {"features": selection.chosen, "features_selection": record}
