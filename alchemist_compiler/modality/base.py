"""What every modality provides to the compiler's stages.

A modality is one module here and one in the runtime (`alchemist_runtime.modalities`, its
`runtime`): this side reads its inputs from data rows (through the runtime's conversion, so
compile-time and labeling-time inputs are the same), describes them to the LLM, renders one
input, gives probe inputs to `alchemist vet`, and estimates the zero-shot cost of one input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alchemist_runtime.modalities import InputKind

from ..errors import DataError

if TYPE_CHECKING:
    from rich.console import Console

    from ..data import Dataset
    from ..llm import LLMStage
    from ..task import Task


class Modality(ABC):
    """One kind of input (text, tabular rows, time series, ...), seen by every stage through this."""

    name: str
    #: Python type of the program's argument, as written in the prompt's signature.
    program_arg_type: str
    #: The featurizer used when task.yaml's distill.features is not given.
    default_featurizer: str
    #: The runtime side: user inputs -> program inputs -> model input.
    runtime: type[InputKind]
    #: Whether a data split may be a folder (see split_rows).
    reads_folders: bool = False

    def split_rows(self, task: Task, path: Path) -> list[dict]:
        """The rows of one data split (default: the rows of its file)."""
        from ..data import read_rows

        return read_rows(path, task.data.delimiter, task.data.encoding)

    def split_chunks(self, task: Task, path: Path, size: int) -> Iterator[list[dict]]:
        """The rows of one data split, `size` at a time (default: read from its file as it goes)."""
        from ..data import row_chunks

        return row_chunks(path, task.data.delimiter, task.data.encoding, size)

    def own_programs(self, task: Task, dataset: Dataset) -> list[tuple[str, str, str]]:
        """Programs this modality writes itself: (origin, name prefix, code) each."""
        return []

    def prepare(self, task: Task, dataset: Dataset, llm: LLMStage, console: Console) -> Dataset:
        """The dataset programs will read, after what this modality computes from the loaded
        data before programs are asked for (default: the dataset as loaded)."""
        return dataset

    @abstractmethod
    def input_spec(self, task: Task, train_rows: list[dict], file: str) -> dict:
        """What reading an input needs (manifest.json's "input"), from the task and the train
        rows; DataError naming the key or the row."""

    @abstractmethod
    def required_columns(self, spec: dict) -> list[str]:
        """The columns every data row must have."""

    def program_input(self, kind: InputKind, row: dict, where: str) -> Any:
        """One row's program input (default: the runtime reads the whole row)."""
        try:
            return kind.one(row, where)
        except (TypeError, ValueError) as err:
            raise DataError(str(err)) from None

    @abstractmethod
    def describe(self, task: Task, dataset: Dataset) -> str:
        """The prompt's paragraph on what `x` is."""

    @abstractmethod
    def render_input(self, value: Any, max_chars: int | None = 300) -> str:
        """One input as short text for prompts (exemplars, feedback); None: no limit."""

    @abstractmethod
    def probe_inputs(self, spec: dict | None = None) -> tuple[Any, ...]:
        """A few inputs of the program's argument type for `alchemist vet` (spec: the task's
        input spec when known)."""

    def zero_shot_prompt_tokens(self, prompt_tokens: Callable[[str], int], value: Any) -> int:
        """Prompt tokens of asking an LLM to label this one input; `prompt_tokens(rendered)`
        estimates the zero-shot prompt around a rendered input."""
        return prompt_tokens(self.render_input(value, max_chars=None))
