"""`distill.features: auto`: distill with every featurizer of the task's modality, keep the
modality's default unless another beats it on valid beyond chance.

Candidates are the modality's registered featurizers in registration order, which is their cost
order (text: hashing, minilm, both). Each distilled model's probabilities are scored row by row on
valid, as the labeler computes them, and the rule in alchemist_compiler.selection keeps the one
with the best Brier score only when a paired t-test says it beats the default (ties go to the
default, the cheapest). A featurizer whose extra is not installed is left out, and said so.
Without a labeled valid split, the modality's default featurizer is used.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import AlchemistError
from .featurizers import get_featurizer, names_for
from .modality import MODALITIES
from .selection import describe, select
from .task import AUTO_FEATURES, Task

BY = "distilled accuracy on valid"
CRITERION = "brier"


def distill_features(task: Task, console, distill: Callable, *args, **kwargs) -> tuple[object, dict]:
    """`distill(featurizer, *args, **kwargs)` with the task's featurizer, or for `auto` the one
    the selection rule keeps; returns the distilled model and the manifest's record of the choice
    ({"features": name} + "features_selection" for auto)."""
    if task.featurizer != AUTO_FEATURES:
        return distill(get_featurizer(task.featurizer), *args, **kwargs), {"features": task.featurizer}
    default = MODALITIES[task.modality].default_featurizer
    valid_inputs, valid_labels = kwargs.get("valid_inputs"), kwargs.get("valid_labels")
    if valid_inputs is None or valid_labels is None:
        record = {"features": default, "features_selection": {"by": "default: no labeled valid split"}}
        return distill(get_featurizer(default), *args, **kwargs), record
    models, probabilities, skipped = {}, {}, {}
    for name in names_for(task.modality):
        try:
            models[name] = distill(get_featurizer(name), *args, **kwargs)
        except AlchemistError as err:  # an extra that is not installed
            skipped[name] = str(err)
            continue
        probabilities[name] = models[name].proba(valid_inputs, len(task.classes))
    selection = select(probabilities, valid_labels, default, CRITERION)
    record = {**selection.record(BY), "candidates": list(probabilities),
              **({"skipped": skipped} if skipped else {})}
    console.print(f"features auto: {selection.chosen}: {describe(record, selection.chosen)}"
                  + "".join(f"; {n} left out: {why}" for n, why in skipped.items()))
    return models[selection.chosen], {"features": selection.chosen, "features_selection": record}
