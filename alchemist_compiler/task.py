"""Stage 1: read and validate task.yaml into a `Task` (pydantic; unknown keys are errors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import TaskError

Strategy = Literal["general", "description", "exemplars", "keywords", "rules"]
Modality = Literal["text", "image", "tabular", "timeseries"]
LabelModelKind = Literal[
    "snorkel", "majority", "weighted_majority", "dawid_skene", "flyingsquid", "auto"
]
IMPLEMENTED_LABEL_MODELS = (
    "snorkel", "majority", "weighted_majority", "dawid_skene", "flyingsquid", "auto"
)
IMPLEMENTED_MODALITIES = ("text",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""


class DataSpec(_Strict):
    train: Path
    valid: Path | None = None
    test: Path | None = None
    input: str | list[str] = "text"
    label: str = "label"


class Price(_Strict):
    prompt: Annotated[float, Field(ge=0)] = 0.0
    completion: Annotated[float, Field(ge=0)] = 0.0


class LLMSpec(_Strict):
    model: Annotated[str, Field(min_length=1)] = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    price_per_1k: Price = Price(prompt=0.00015, completion=0.0006)
    max_tokens: Annotated[int, Field(gt=0)] = 1500
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    max_retries: Annotated[int, Field(ge=0)] = 5
    concurrency: Annotated[int, Field(gt=0)] = 4


class ProgramsSpec(_Strict):
    count: Annotated[int, Field(ge=0, le=200)] = 10
    strategies: Annotated[list[Strategy], Field(min_length=1)] = [
        "general", "description", "exemplars", "keywords", "rules"
    ]
    supplementary: dict[Strategy, str] = {}
    min_coverage: Annotated[float, Field(ge=0, le=1)] = 0.10
    include: list[Path] = []
    repair_rounds: Annotated[int, Field(ge=0)] = 1
    weak_labels_column: str | None = None
    exemplars_per_class: Annotated[int, Field(ge=0)] = 3
    call_timeout_s: Annotated[float, Field(gt=0)] = 1.0


class LabelModelSpec(_Strict):
    kind: LabelModelKind = "snorkel"

    @field_validator("kind")
    @classmethod
    def _implemented(cls, kind: str) -> str:
        if kind not in IMPLEMENTED_LABEL_MODELS:
            raise ValueError(f"{kind!r} is not available yet; use one of {IMPLEMENTED_LABEL_MODELS}")
        return kind


class DistillSpec(_Strict):
    features: Literal["hashing", "minilm"] = "hashing"
    hidden: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] = [32, 32]
    seeds: Annotated[int, Field(ge=1, le=20)] = 5
    epochs: Annotated[int, Field(gt=0)] = 60
    learning_rate: Annotated[float, Field(gt=0)] = 3e-3


class Task(_Strict):
    """A validated task. Paths are absolute (resolved against the task file's folder)."""

    name: str
    description: Annotated[str, Field(min_length=1)]
    modality: Modality = "text"
    classes: Annotated[list[ClassSpec], Field(min_length=2)]
    data: DataSpec
    llm: LLMSpec = LLMSpec()
    programs: ProgramsSpec = ProgramsSpec()
    label_model: LabelModelSpec = LabelModelSpec()
    distill: DistillSpec = DistillSpec()
    _path: Path = PrivateAttr()

    @field_validator("name")
    @classmethod
    def _name_is_a_distribution_name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
            raise ValueError("must be lowercase words joined by '-', e.g. 'youtube-spam'")
        return name

    @field_validator("modality")
    @classmethod
    def _modality_implemented(cls, modality: str) -> str:
        if modality not in IMPLEMENTED_MODALITIES:
            raise ValueError(f"{modality!r} is not supported yet; supported: {IMPLEMENTED_MODALITIES}")
        return modality

    @model_validator(mode="after")
    def _unique_class_names(self) -> Task:
        names = [c.name for c in self.classes]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"classes: duplicate class name {duplicate!r}")
        if self.programs.count == 0 and not self.programs.include and not (
            self.programs.weak_labels_column
        ):
            raise ValueError("programs: count is 0 and nothing is included: no programs to run")
        if "exemplars" in self.programs.strategies and self.programs.count > 0:
            if self.data.valid is None and "exemplars" not in self.programs.supplementary:
                raise ValueError(
                    "programs.strategies: 'exemplars' needs labeled rows (data.valid) "
                    "or programs.supplementary.exemplars"
                )
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def import_name(self) -> str:
        return self.name.replace("-", "_") + "_labeler"

    @property
    def dist_name(self) -> str:
        return self.name + "-labeler"

    @property
    def path(self) -> Path:
        """The task file this task was read from."""
        return self._path

    @property
    def lock_path(self) -> Path:
        return self._path.parent / "alchemist.lock"


def _resolve_paths(raw: dict, base: Path) -> dict:
    data = raw.get("data")
    if isinstance(data, dict):
        for split in ("train", "valid", "test"):
            if isinstance(data.get(split), str):
                data[split] = str((base / data[split]).resolve())
    programs = raw.get("programs")
    if isinstance(programs, dict) and isinstance(programs.get("include"), list):
        programs["include"] = [
            str((base / p).resolve()) if isinstance(p, str) else p for p in programs["include"]
        ]
    return raw


def _format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{key}: {message}{extra}"


def load_task(path: str | Path) -> Task:
    """Parse and validate a task file; raise TaskError naming the key at fault."""
    path = Path(path).resolve()
    if not path.is_file():
        raise TaskError(f"{path.name}: task file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TaskError(f"{path.name}: not valid YAML: {err}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path.name}: expected a mapping of keys at the top level")
    try:
        task = Task.model_validate(_resolve_paths(raw, path.parent))
    except ValidationError as err:
        raise TaskError(f"{path.name}: {_format_validation_error(err)}") from None
    task._path = path
    _check_files_exist(task)
    return task


def _check_files_exist(task: Task) -> None:
    for split in ("train", "valid", "test"):
        file = getattr(task.data, split)
        if file is not None and not file.is_file():
            raise TaskError(f"data.{split}: file not found: {file}")
    for i, file in enumerate(task.programs.include):
        if not file.is_file():
            raise TaskError(f"programs.include.{i}: file not found: {file}")
