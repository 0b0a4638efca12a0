"""What every modality provides to the pipeline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import onnx


class Modality(ABC):
    """One kind of input (text, image, ...), seen by every stage through this interface."""

    name: str
    #: Python type of the program's argument, as written in the prompt's signature.
    program_arg_type: str
    #: One sentence for the prompt: what `x` is.
    input_description: str
    #: Example inputs for the dynamic check of a vetted program.
    probe_inputs: tuple[Any, ...]

    @abstractmethod
    def program_input(self, row: dict, column: str | list[str], where: str) -> Any:
        """The value a program receives for one data row; raise DataError naming `where`."""

    @abstractmethod
    def render_input(self, value: Any, max_chars: int = 300) -> str:
        """A short text rendering of one input for prompts (exemplars) and cost estimates."""

    @abstractmethod
    def featurizer(self, spec: Any) -> onnx.ModelProto:
        """ONNX graph: raw model input "input" -> float32 "features" (n, d)."""

    def batch_order(self, values: list[Any]):
        """Order in which to batch inputs for the ONNX model (default: as given)."""
        import numpy as np

        return np.arange(len(values))

    @abstractmethod
    def model_input(self, values: list[Any]) -> Any:
        """The array fed to the ONNX model for a batch of program inputs."""
