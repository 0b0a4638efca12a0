"""The labeler as a plain function of a batch (a pandas DataFrame), for Dask, Spark and Ray.

`label_frame(frame, column, package)` -> a DataFrame of `label` and one `proba_<class>` column
per class, with the batch's index. `package`: the labeler's import name (each worker imports it:
install the labeler's wheel on every worker). pandas is needed where this runs; dask only by
`label_dataframe`, which imports it.
"""

from __future__ import annotations

import importlib
from functools import cache


@cache
def _labeler(package: str):
    """One Labeler per process and package (its ONNX session on one thread)."""
    module = importlib.import_module(package)
    return module.Labeler(threads=1)


def output_columns(classes: list[str]) -> list[str]:
    return ["label"] + [f"proba_{name}" for name in classes]


def label_frame(frame, column: str | None, package: str):
    """Predictions for the rows of `frame`: the input is `frame[column]` (text, image path),
    or each row as a dict when `column` is None (tabular)."""
    import pandas as pd

    labeler = _labeler(package)
    rows = frame.to_dict("records") if column is None else frame[column].tolist()
    inputs = labeler.inputs.from_rows(rows, f"{package} batch")
    labels, proba = (labeler.predict_and_proba(inputs) if len(inputs)
                     else ([], _empty(len(labeler.classes))))
    result = pd.DataFrame(proba, index=frame.index, columns=output_columns(labeler.classes)[1:])
    result.insert(0, "label", labels)  # None where predict abstains (a blank text)
    return result


def label_dataframe(ddf, column: str | None, package: str):
    """A Dask DataFrame of predictions, one partition per partition of `ddf` (lazy)."""
    import numpy as np
    import pandas as pd

    classes = list(importlib.import_module(package).CLASSES)
    meta = pd.DataFrame({"label": pd.Series(dtype=object),
                         **{c: pd.Series(dtype=np.float32) for c in output_columns(classes)[1:]}})
    return ddf.map_partitions(label_frame, column, package, meta=meta)


def _empty(k: int):
    import numpy as np

    return np.zeros((0, k), dtype=np.float32)
