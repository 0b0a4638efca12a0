"""`distill.features: auto`: distill with every featurizer of the task's modality, keep the best
on valid.

Candidates are the modality's registered featurizers in registration order, which is their cost
order (text: hashing, minilm, both): the best accuracy of the distilled model on valid (computed
as the labeler computes it) wins, and a tie goes to the earlier, cheaper one. A featurizer whose
extra is not installed is left out, and said so. Without a labeled valid split, the modality's
default featurizer is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import AlchemistError
from .featurizers import get_featurizer, names_for
from .modality import MODALITIES
from .task import AUTO_FEATURES, Task


def distill_features(task: Task, console, distill: Callable, *args, **kwargs) -> tuple[object, dict]:
    """`distill(featurizer, *args, **kwargs)` with the task's featurizer, or for `auto` the best
    of the candidates; returns the distilled model and the manifest's record of the choice
    ({"features": name} + "features_selection" for auto)."""
    if task.featurizer != AUTO_FEATURES:
        return distill(get_featurizer(task.featurizer), *args, **kwargs), {"features": task.featurizer}
    valid_inputs, valid_labels = kwargs.get("valid_inputs"), kwargs.get("valid_labels")
    if valid_inputs is None or valid_labels is None:
        name = MODALITIES[task.modality].default_featurizer
        record = {"features": name, "features_selection": {"by": "default: no labeled valid split"}}
        return distill(get_featurizer(name), *args, **kwargs), record
    best, scores, skipped = None, {}, {}
    for name in names_for(task.modality):
        try:
            distilled = distill(get_featurizer(name), *args, **kwargs)
        except AlchemistError as err:  # an extra that is not installed
            skipped[name] = str(err)
            continue
        predicted = distilled.proba(valid_inputs, len(task.classes)).argmax(axis=1)
        scores[name] = round(float(np.mean(predicted == valid_labels)), 6)
        if best is None or scores[name] > scores[best[0]]:
            best = (name, distilled)
    selection = {"by": "distilled accuracy on valid; ties to the cheaper (earlier)",
                 "candidates": list(scores), "valid_accuracy": scores, **({"skipped": skipped} if skipped else {})}
    console.print(f"features auto: {best[0]} (valid accuracy "
                  + ", ".join(f"{n} {a:.3f}" for n, a in scores.items()) + ")"
                  + "".join(f"; {n} left out: {why}" for n, why in skipped.items()))
    return best[1], {"features": best[0], "features_selection": selection}
