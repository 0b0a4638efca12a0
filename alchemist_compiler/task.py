"""Stage 1: read and validate task.yaml into a `Task` (pydantic; unknown keys are errors).

Errors speak task.yaml, not pydantic: every error is listed on one line, with the key, the expected
shape (an example) and, for an unknown key, the closest known one.
"""

from __future__ import annotations

import codecs
import difflib
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .engine import DEFAULT_PARTITION_ROWS
from .errors import TaskError
from .featurizers import FEATURIZERS, names_for
from .label_model import KINDS as LABEL_MODEL_KINDS
from .modality import MODALITIES

Strategy = Literal["general", "description", "exemplars", "keywords", "rules"]
DEFAULT_STRATEGIES: tuple[Strategy, ...] = ("general", "description", "exemplars", "keywords", "rules")
#: distill.features: try every featurizer of the modality, keep the best on valid (choices.py)
AUTO_FEATURES = "auto"
#: data keys naming a split's file (or, for images, folder)
SPLIT_KEYS = ("train", "valid", "test", "exemplars")
#: A public PEP 440 version that pip orders: 1.2.0, 2.0.0rc1, 1.4.post1 (no local "+..." label).
PUBLIC_VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: The shape of this section in task.yaml, shown when a value is not a mapping.
    example: ClassVar[str] = "{...}"


class ClassSpec(_Strict):
    example = "{name: spam, description: self-promotion and links} (or just the name: spam)"
    name: Annotated[str, Field(min_length=1)]
    description: str = ""


class DataSpec(_Strict):
    example = "{train: data/train.jsonl, valid: data/valid.jsonl, input: text, label: label}"
    train: Path
    valid: Path | None = None
    test: Path | None = None
    exemplars: Path | None = None  # labeled rows the LLM may see; valid then chooses with all its rows
    input: str | list[str] = "text"
    label: str = "label"
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] | None = None  # .csv ",", .tsv tab
    encoding: str = "utf-8"
    missing: list[str] = []  # tabular: strings that mean a missing value, e.g. ["?", ""]
    rate_hz: Annotated[float, Field(gt=0)] | None = None  # timeseries: samples per second
    units: str | None = None  # timeseries: the values' units, e.g. mV
    chunk_rows: Annotated[int, Field(gt=0)] = 100_000  # train is read this many rows at a time

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
        return encoding


class Price(_Strict):
    example = "{prompt: 0.00015, completion: 0.0006}"
    prompt: Annotated[float, Field(ge=0)] = 0.0
    completion: Annotated[float, Field(ge=0)] = 0.0


class LLMSpec(_Strict):
    example = "{model: gpt-4o-mini, base_url: null, api_key_env: OPENAI_API_KEY}"
    model: Annotated[str, Field(min_length=1)] = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    price_per_1k: Price = Price(prompt=0.00015, completion=0.0006)
    max_tokens: Annotated[int, Field(gt=0)] = 1500
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    max_retries: Annotated[int, Field(ge=0)] = 5
    concurrency: Annotated[int, Field(gt=0)] = 4
    name: Annotated[str, Field(min_length=1)] | None = None  # in headers and the ledger; default: model
    share: Annotated[float, Field(gt=0)] = 1.0  # of the program slots, when llm is a list of sources

    @property
    def label(self) -> str:
        """What program headers, the manifest and the cost ledger call this source."""
        return self.name or self.model


class ProgramsSpec(_Strict):
    example = "{count: 10, strategies: [general, keywords], include: [my_rule.py]}"
    count: Annotated[int, Field(ge=0, le=200)] = 10
    strategies: Annotated[list[Strategy], Field(min_length=1)] = list(DEFAULT_STRATEGIES)
    supplementary: dict[Strategy, str] = {}
    min_coverage: Annotated[float, Field(ge=0, le=1)] = 0.10
    include: list[Path] = []
    pin: list[Path] = []  # reviewed program files that keep their slots (pins.py)
    repair_rounds: Annotated[int, Field(ge=0)] = 1
    weak_labels_column: str | None = None
    exemplars_per_class: Annotated[int, Field(ge=0)] = 3
    call_timeout_s: Annotated[float, Field(gt=0)] = 1.0


class LabelModelSpec(_Strict):
    example = "{kind: snorkel}"
    kind: str = "snorkel"

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        if kind not in LABEL_MODEL_KINDS:
            raise ValueError(f"{kind!r} is not a label model; use one of {list(LABEL_MODEL_KINDS)}")
        return kind


class DistillSpec(_Strict):
    example = "{features: hashing, hidden: [32, 32], seeds: 5}"
    features: str | None = None  # a featurizer of the task's modality, or auto; None: the default
    hidden: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] = [32, 32]
    seeds: Annotated[int, Field(ge=1, le=20)] = 5
    epochs: Annotated[int, Field(gt=0)] = 60
    learning_rate: Annotated[float, Field(gt=0)] = 3e-3
    max_chars: Annotated[int, Field(gt=0)] = 20000  # text: characters kept per input
    max_rows: Annotated[int, Field(gt=0)] = 200_000  # trains on a seeded sample of covered rows above


class EngineSpec(_Strict):
    example = "{kind: dask, address: tcp://scheduler:8786}"
    kind: str = "local"  # local worker processes, or a Dask cluster
    address: str | None = None  # the Dask scheduler's (--scheduler overrides it)
    partition_rows: Annotated[int, Field(gt=0)] = DEFAULT_PARTITION_ROWS

    @field_validator("kind")
    @classmethod
    def _known_engine(cls, kind: str) -> str:
        if kind not in ("local", "dask"):
            raise ValueError(f"{kind!r} is not an engine; use local or dask")
        return kind

    @model_validator(mode="after")
    def _address_with_dask(self) -> EngineSpec:
        if self.kind == "dask" and not self.address:
            raise ValueError("kind dask needs address: the Dask scheduler's, e.g. "
                             "tcp://scheduler:8786")
        if self.kind == "local" and self.address:
            raise ValueError("address is only for kind: dask")
        return self


class VisionSpec(_Strict):
    """modality: image. See featurizers/clip.py for what each setting does to the graph."""

    example = "{model: ViT-B-32, weights: models/open_clip_model.safetensors}"
    model: Annotated[str, Field(min_length=1)] = "ViT-B-32"  # or an open_clip config .json
    weights: Annotated[str, Field(min_length=1)]  # a local checkpoint (file or folder), or "random"
    concepts: dict[str, list[Annotated[str, Field(min_length=1)]]] | None = None  # per class
    spurious: list[Annotated[str, Field(min_length=1)]] | Literal["auto"] = []
    zero_shot: bool = False  # one more voter: CLIP's zero-shot class ("an image of a {class}")
    quantize: Literal["int8"] | None = None  # the image encoder's weights


class Task(_Strict):
    """A validated task. Paths are absolute (resolved against the task file's folder)."""

    name: str
    version: str | None = None  # the labeler's; None: derived (emit.labeler_version)
    description: Annotated[str, Field(min_length=1)]
    modality: str = "text"
    classes: Annotated[list[ClassSpec], Field(min_length=2)]
    data: DataSpec
    #: task.yaml's `llm`: one source (a mapping) or several (a list); the first is the primary
    sources: Annotated[list[LLMSpec], Field(alias="llm", min_length=1)] = [LLMSpec()]
    programs: ProgramsSpec = ProgramsSpec()
    label_model: LabelModelSpec = LabelModelSpec()
    distill: DistillSpec = DistillSpec()
    vision: VisionSpec | None = None  # modality: image
    engine: EngineSpec = EngineSpec()
    _path: Path = PrivateAttr()
    _notes: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("sources", mode="before")
    @classmethod
    def _one_source_is_a_mapping(cls, llm: Any) -> Any:
        return [llm] if isinstance(llm, dict) else llm

    @field_validator("sources")
    @classmethod
    def _sources_have_their_own_labels(cls, sources: list[LLMSpec]) -> list[LLMSpec]:
        labels = [s.label for s in sources]
        twice = next((i for i, label in enumerate(labels) if label in labels[:i]), None)
        if twice is not None:
            raise ValueError(f"sources {labels.index(labels[twice])} and {twice} are both called "
                             f"{labels[twice]!r}; give each a name")
        return sources

    @property
    def llm(self) -> LLMSpec:
        """The primary source: first-stage questions, image concepts, the baseline, the
        zero-shot estimate."""
        return self.sources[0]

    @field_validator("classes", mode="before")
    @classmethod
    def _names_alone_are_classes(cls, classes: Any) -> Any:
        if isinstance(classes, list):
            return [{"name": c} if isinstance(c, str) else c for c in classes]
        return classes

    @field_validator("version", mode="before")
    @classmethod
    def _version_pip_orders(cls, version: Any) -> Any:
        if isinstance(version, float):
            raise ValueError(f"quote it ('{version}'): YAML reads an unquoted version as a number")
        version = str(version) if isinstance(version, int) and not isinstance(version, bool) else version
        if isinstance(version, str) and not PUBLIC_VERSION.fullmatch(version):
            raise ValueError(f"{version!r} is not a version pip orders; e.g. 1.2.0 or 2.0.0rc1")
        return version

    @field_validator("name")
    @classmethod
    def _name_is_a_distribution_name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
            raise ValueError("must be lowercase words joined by '-', e.g. 'youtube-spam'")
        return name

    @field_validator("modality")
    @classmethod
    def _modality_registered(cls, modality: str) -> str:
        if modality not in MODALITIES:
            raise ValueError(f"{modality!r} is not supported; use one of {list(MODALITIES)}")
        return modality

    @field_validator("distill")
    @classmethod
    def _featurizer_of_the_modality(cls, distill: DistillSpec, info: ValidationInfo) -> DistillSpec:
        modality = info.data.get("modality")
        if distill.features not in (None, AUTO_FEATURES) and modality in MODALITIES:
            known = names_for(modality)
            if distill.features not in known:
                why = "is not a featurizer" if distill.features not in FEATURIZERS else \
                    f"reads {FEATURIZERS[distill.features].modality} inputs"
                raise ValueError(f"features: {distill.features!r} {why}; a {modality} task takes "
                                 f"one of {known} or {AUTO_FEATURES}")
        return distill

    @model_validator(mode="after")
    def _vision_for_images(self) -> Task:
        if (self.modality == "image") != (self.vision is not None):
            raise ValueError("vision: required for modality image (vision.weights: a local "
                             "checkpoint, or random for tests)" if self.modality == "image"
                             else f"vision: only for modality image, not {self.modality}")
        unknown = [c for c in (self.vision.concepts or {}) if c not in self.class_names] if \
            self.vision else []
        if unknown:
            raise ValueError(f"vision.concepts: {unknown[0]!r} is not a class")
        return self

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
        shows_rows = "exemplars" in self.programs.strategies and self.programs.count > 0 and (
            "exemplars" not in self.programs.supplementary)
        if shows_rows and self.data.valid is None and self.data.exemplars is None:
            raise ValueError(
                "programs.strategies: 'exemplars' needs labeled rows: add data.exemplars, "
                "data.valid or programs.supplementary.exemplars, or remove 'exemplars'"
            )
        return self

    @property
    def featurizer(self) -> str:
        """The featurizer's name (or auto): distill.features, else the modality's default."""
        return self.distill.features or MODALITIES[self.modality].default_featurizer

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

    @property
    def notes(self) -> tuple[str, ...]:
        """What loading changed on the user's behalf (printed by the compile)."""
        return self._notes


def _resolve_paths(raw: dict, base: Path) -> dict:
    data = raw.get("data")
    if isinstance(data, dict):
        for split in SPLIT_KEYS:
            if isinstance(data.get(split), str):
                data[split] = str((base / data[split]).resolve())
    vision = raw.get("vision")
    if isinstance(vision, dict):
        for key in ("weights", "model"):
            value = vision.get(key)
            if isinstance(value, str) and (key == "weights" and value != "random"
                                           or value.endswith(".json")):
                vision[key] = str((base / value).resolve())
    programs = raw.get("programs")
    for key in ("include", "pin"):
        if isinstance(programs, dict) and isinstance(programs.get(key), list):
            programs[key] = [
                str((base / p).resolve()) if isinstance(p, str) else p for p in programs[key]
            ]
    return raw


def _drop_exemplars_without_valid(raw: dict) -> str | None:
    """Default strategies and no labeled rows: leave out `exemplars` (it shows valid rows)."""
    data, programs = raw.get("data"), raw.get("programs", {})
    if not isinstance(data, dict) or not isinstance(programs, dict) or any(
            data.get(labeled) is not None for labeled in ("valid", "exemplars")):
        return None
    supplementary = programs.get("supplementary")
    if "strategies" in programs or programs.get("count") == 0 or (
        isinstance(supplementary, dict) and "exemplars" in supplementary
    ):
        return None
    raw["programs"] = {**programs, "strategies": [s for s in DEFAULT_STRATEGIES if s != "exemplars"]}
    return ("no data.valid: the exemplars strategy is left out (it shows labeled rows; add data.valid "
            "or programs.supplementary.exemplars to use it)")


def _submodel(annotation: Any) -> type[_Strict] | None:
    """The task.yaml section (a _Strict model) inside an annotation such as `list[X] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, _Strict):
        return annotation
    return next((m for m in map(_submodel, get_args(annotation)) if m is not None), None)


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed where `loc` (the path of an unknown key) points."""
    model: type[_Strict] | None = Task
    for part in loc[:-1]:
        if isinstance(part, str):
            field = _fields_by_key(model).get(part)
            model = _submodel(field.annotation) if field is not None else None
        if model is None:
            return []
    return list(_fields_by_key(model))


def _fields_by_key(model: type[_Strict]) -> dict:
    """A section's fields by their task.yaml key (the alias, where there is one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(error: dict) -> str:
    """One pydantic error in task.yaml's words (no pydantic class names)."""
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1, cutoff=0.6)
        return "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "model_type":
        example = getattr(_STRICT_MODELS.get(error["ctx"]["class_name"]), "example", "{...}")
        return f"expected a mapping like {example}, got {_shown(error['input'])}"
    if kind in ("list_type", "dict_type"):
        return f"expected a {kind.removesuffix('_type')}, got {_shown(error['input'])}"
    return error["msg"].removeprefix("Value error, ")


def _format_validation_error(err: ValidationError, one_source: bool) -> str:
    """`one_source`: llm is a mapping, so its errors say llm.model, not llm.0.model."""
    messages = []
    for error in err.errors():
        loc = error["loc"]
        if one_source and loc[:2] == ("llm", 0):
            loc = ("llm", *loc[2:])
        key = ".".join(str(part) for part in loc)
        messages.append(f"{key}: {_message(error)}" if key else _message(error))
    count = f"{len(messages)} errors: " if len(messages) > 1 else ""
    return count + "; ".join(messages)


def _yaml_error(name: str, err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return f"{name}: not valid YAML: {err}".splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    started = f" ({context} at line {start.line + 1}, column {start.column + 1})" if context and start else ""
    return f"{name}: {where}: not valid YAML: {err.problem}{started}"


def load_task(path: str | Path) -> Task:
    """Parse and validate a task file; raise TaskError naming the key at fault."""
    path = Path(path).resolve()
    if path.is_dir():
        raise TaskError(f"{path}: is a folder; give the task file (task.yaml)")
    if not path.is_file():
        raise TaskError(f"{path.name}: task file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TaskError(_yaml_error(path.name, err)) from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path.name}: expected a mapping of keys at the top level")
    note = _drop_exemplars_without_valid(raw)
    try:
        task = Task.model_validate(_resolve_paths(raw, path.parent))
    except ValidationError as err:
        message = _format_validation_error(err, one_source=isinstance(raw.get("llm"), dict))
        raise TaskError(f"{path.name}: {message}") from None
    task._path = path
    task._notes = (note,) if note else ()
    _check_files_exist(task)
    return task


def _check_file(file: Path, key: str, folders: bool = False) -> None:
    if folders and file.is_dir():
        return
    if file.is_dir():
        raise TaskError(f"{key}: is a folder, not a file: {file}")
    if not file.is_file():
        raise TaskError(f"{key}: file not found: {file}")


def _check_files_exist(task: Task) -> None:
    for split in SPLIT_KEYS:
        file = getattr(task.data, split)
        if file is not None:
            _check_file(file, f"data.{split}", MODALITIES[task.modality].reads_folders)
    for key in ("include", "pin"):
        for i, file in enumerate(getattr(task.programs, key)):
            _check_file(file, f"programs.{key}.{i}")
    if task.vision is not None and task.vision.weights != "random":
        _check_file(Path(task.vision.weights), "vision.weights", folders=True)
    if task.vision is not None and task.vision.model.endswith(".json"):
        _check_file(Path(task.vision.model), "vision.model")


def _all_subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_all_subclasses(sub))]


_STRICT_MODELS: dict[str, type[_Strict]] = {c.__name__: c for c in _all_subclasses(_Strict)}
