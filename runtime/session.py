"""ONNX sessions and model runs: the one place a session is built, for the labeler and the compiler.

`featurizer` is the featurizer's needs as manifest.json records them (the compiler's featurizer
registry writes them): custom-op domains whose library must be registered, and SessionOptions
attributes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BATCH_ROWS = 1024  # rows per model run, at most
# ... and at most BATCH_CELLS rows x (length of the run's longest input + ROW_CELLS), unless it
# is one row. A run's string tensors are padded to its longest row, and the model's first layer
# gathers seeds x hidden floats per n-gram occurrence (a few per character): small runs keep all
# that in cache (fastest), and bounded on long documents, where 1024 rows would need gigabytes.
BATCH_CELLS = 4096
ROW_CELLS = 128  # a row's fixed share (e.g. its row of the n-gram counts)


def extensions_library() -> str:
    """Path of onnxruntime-extensions' custom-op library, found without importing the package:
    its __init__ imports onnx, and torch + transformers where installed (seconds)."""
    from importlib.util import find_spec

    spec = find_spec("onnxruntime_extensions")
    folders = (spec.submodule_search_locations or []) if spec else []
    library = next((p for f in folders for p in sorted(Path(f).glob("_extensions_pydll.*"))), None)
    if library is None:
        raise ImportError("this labeler's model needs onnxruntime-extensions: "
                          "pip install onnxruntime-extensions")
    return str(library)


#: custom-op domain -> where its library is
CUSTOM_OP_LIBRARIES = {"ai.onnx.contrib": extensions_library}


def make_session(model: bytes | str | Path, featurizer: dict, threads: int | None = None):
    """An onnxruntime CPU session for `model` (serialized bytes or a path) with what its
    featurizer needs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    for name, value in featurizer.get("session_options", {}).items():
        setattr(options, name, value)
    for domain in featurizer.get("custom_op_domains", ()):
        if domain not in CUSTOM_OP_LIBRARIES:
            raise ValueError(f"no custom-op library is known for the domain {domain!r}")
        options.register_custom_ops_library(CUSTOM_OP_LIBRARIES[domain]())
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def batches(lengths, n: int, cells: int = BATCH_CELLS, max_rows: int = BATCH_ROWS) -> list[np.ndarray]:
    """Row indices of each model run over n inputs. With `lengths` (inputs whose cost grows with
    their length: text), shortest first, in runs bounded by `length_batches`; without, in order,
    max_rows at a time."""
    if lengths is None:
        return [np.arange(start, min(start + max_rows, n)) for start in range(0, n, max_rows)]
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    runs = length_batches(lengths[order], cells=cells, max_rows=max_rows)
    return [order[start:stop] for start, stop in runs]


def run_model(session, kind, values: list, width: int, output: str = "probabilities") -> np.ndarray:
    """(n, width) `output` of the session on program inputs `values`, in input order; `kind`
    (a runtime modality) gives the model input and the batching."""
    result = np.zeros((len(values), width), dtype=np.float32)
    for rows in batches(kind.lengths(values), len(values), max_rows=kind.batch_rows or BATCH_ROWS):
        feed = kind.model_input([values[i] for i in rows])
        result[rows] = session.run([output], {"input": feed})[0]
    return result


def length_batches(
    lengths, cells: int = BATCH_CELLS, max_rows: int = BATCH_ROWS, row_cells: int = ROW_CELLS
) -> list[tuple[int, int]]:
    """Consecutive [start, stop) runs covering inputs of these lengths (best sorted shortest
    first): each run has at most max_rows rows and at most `cells` rows x (its longest +
    row_cells), or is one row."""
    lengths = [int(n) for n in lengths]
    runs, start = [], 0
    while start < len(lengths):
        stop, longest = start + 1, lengths[start]
        while stop < len(lengths) and stop - start < max_rows:
            longest_then = max(longest, lengths[stop])
            if (stop - start + 1) * (longest_then + row_cells) > cells:
                break
            stop, longest = stop + 1, longest_then
        runs.append((start, stop))
        start = stop
    return runs
