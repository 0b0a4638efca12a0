"""Program inputs kept on disk: a train split larger than memory.

`SpooledInputs` is a read-only sequence of JSON values written once, a chunk at a time, to a
private temporary folder (under TMPDIR), and read back a slice at a time: the compile holds the
votes (int8) and 8-byte offsets per row, not the rows. The folder is removed when the sequence is
garbage-collected or the process exits.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

READ_ROWS = 10_000  # rows decoded at a time when iterating


class SpooledInputs(Sequence):
    """JSON-serializable inputs, one JSON line each in `folder`/inputs.jsonl."""

    def __init__(self, folder: Path, rows: int) -> None:
        self._folder = folder
        self._rows = rows
        self._offsets = np.memmap(folder / "offsets.bin", dtype=np.int64, mode="r", shape=(rows + 1,))
        self._file = open(folder / "inputs.jsonl", "rb")  # noqa: SIM115 - closed by the finalizer
        weakref.finalize(self, _remove, self._file, folder)

    @classmethod
    def write(cls, chunks: Iterable[list]) -> SpooledInputs:
        """Spool every input of `chunks` (lists of inputs), in order."""
        folder = Path(tempfile.mkdtemp(prefix="alchemist-spool-"))
        rows, position = 0, 0
        try:
            with open(folder / "inputs.jsonl", "wb") as data, open(folder / "offsets.bin", "wb") as offsets:
                np.zeros(1, dtype=np.int64).tofile(offsets)
                for chunk in chunks:
                    lines = [json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n" for value in chunk]
                    ends = position + np.cumsum([len(line) for line in lines], dtype=np.int64)
                    data.write(b"".join(lines))
                    ends.tofile(offsets)
                    position = int(ends[-1]) if len(ends) else position
                    rows += len(lines)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(folder, rows)

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(self._rows)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._read(start, stop) if start < stop else []
        if not -self._rows <= index < self._rows:
            raise IndexError("spooled input index out of range")
        index %= self._rows
        return self._read(index, index + 1)[0]

    def __iter__(self) -> Iterator:
        for start in range(0, self._rows, READ_ROWS):
            yield from self._read(start, min(start + READ_ROWS, self._rows))

    def _read(self, start: int, stop: int) -> list:
        begin = int(self._offsets[start])
        self._file.seek(begin)
        block = self._file.read(int(self._offsets[stop]) - begin)
        return [json.loads(line) for line in block.split(b"\n")[:-1]]


def _remove(file, folder: Path) -> None:
    file.close()
    shutil.rmtree(folder, ignore_errors=True)
