"""Plan a run: resolve the reader, every step and the executor, validate their parameters and the
columns, list the inputs, split the steps into stages around global steps.

Everything here happens before any document is read, so `gristmill validate` and the start of
`gristmill run` report every config error of the file at once, each with its file, line and key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from provenance.yamlfile import ConfigError, Located, apply_overrides, load_yaml, located_errors, validate

from .config import PipelineConfig, StepEntry, step_entries
from .executor import EXECUTORS, ExecutorParams
from .reader import READERS, InputParams, Reader
from .step import STEPS, GlobalStep, Params, Step


@dataclass
class PlannedStep:
    index: int  # position in the YAML `steps` list
    cls: type[Step]
    params: Params

    @property
    def label(self) -> str:
        return f"{self.index}:{self.cls.name}"

    def build(self) -> Step:
        return self.cls(self.params)


@dataclass
class Stage:
    """Streaming steps run per task; the stage ends at `global_step`, whose keys its tasks emit."""

    index: int
    steps: list[PlannedStep] = field(default_factory=list)
    global_step: PlannedStep | None = None

    @property
    def all_steps(self) -> list[PlannedStep]:
        return self.steps + ([self.global_step] if self.global_step else [])


@dataclass
class Plan:
    config: PipelineConfig
    source_path: str
    reader: Reader
    executor: ExecutorParams
    files: list[str]
    stages: list[Stage]
    columns: dict[str, pa.DataType | None]  # the output schema; None where the input decides the type
    hash: str = ""  # of the resolved config, set by load_plan

    def resolved(self) -> dict:
        """The config with every default filled in: what the run really does."""
        data = self.config.model_dump(mode="json")
        data["input"] = self.reader.params.model_dump(mode="json")
        data["executor"] = self.executor.model_dump(mode="json")
        data["steps"] = [{s.cls.name: s.params.model_dump(mode="json")} for st in self.stages for s in st.all_steps]
        return data

    def config_hash(self) -> str:
        """Of what decides the output: not the executor (where, and on how many workers, a run goes
        changes nothing it writes, so a run started locally may be finished on Ray and the other way)."""
        data = self.resolved()
        data.pop("executor")
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


def load_plan(path: str, overrides: list[str] = (), check_inputs: bool = True) -> Plan:
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    errors: list[str] = []
    try:
        config = validate(doc, PipelineConfig)
    except ConfigError as err:
        errors += err.errors
        config = None
    name = doc.data.get("name") if isinstance(doc.data.get("name"), str) else "pipeline"
    reader = _reader(doc, name, errors)
    executor = _component(doc, "executor", EXECUTORS, ExecutorParams, errors, default="local")
    planned = _resolve_steps(doc, config.steps if config else _step_entries(doc), errors)
    columns = _check_columns(doc, reader, planned, errors) if reader else {}
    files: list[str] = []
    if check_inputs and reader:
        try:
            files = reader.files()
        except ConfigError as err:
            errors += [_input_error(doc, e) for e in err.errors]
    if config and (problem := _unwritable(config.output.path)):
        errors.append(doc.error(("output", "path"), problem))
    if errors:
        raise ConfigError(errors)
    plan = Plan(config, path, reader, executor, files, _stages(planned), columns)
    plan.hash = plan.config_hash()
    return plan


def _input_error(doc: Located, error: str) -> str:
    """A reader's error ("input.KEY: ...") located at that key of the file (else at input.paths)."""
    key, sep, rest = error.partition(": ")
    if sep and key.startswith("input.") and key.count(".") == 1:
        return doc.error(("input", key.removeprefix("input.")), rest)
    return doc.error(("input", "paths"), error.removeprefix("input: "))


def _unwritable(path: str) -> str | None:
    """Why the output folder cannot be created or written, if it cannot."""
    folder = Path(path).absolute()
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def _component(doc: Located, key: str, registry, base: type[BaseModel], errors: list[str],
               default: str | None = None) -> BaseModel | None:
    """`doc[key]` validated as the parameters of the component its `reader`/`kind` names."""
    data = doc.data.get(key, {} if default else None)
    if not isinstance(data, dict):
        return None  # the pipeline's own shape check has reported it
    field_name = "reader" if key == "input" else "kind"
    chosen = data.get(field_name, default)
    if chosen is None:
        errors.append(doc.error((key,), f"{key}.{field_name} is required: one of {', '.join(registry.all())}"))
        return None
    try:
        cls = registry.get(chosen)
    except (KeyError, TypeError):
        errors.append(doc.error((key, field_name), registry.unknown(chosen)))
        return None
    try:
        return cls.Params.model_validate({field_name: chosen, **data})
    except ValidationError as err:
        errors += located_errors(doc, (key,), err, cls.Params)
        return None


def _reader(doc: Located, name: str, errors: list[str]) -> Reader | None:
    params = _component(doc, "input", READERS, InputParams, errors)
    return READERS.get(params.reader)(params, name) if params else None


def _step_entries(doc: Located) -> list[StepEntry]:
    """The steps of a file whose other parts are broken, so that their errors are reported too."""
    try:
        return step_entries(doc.data.get("steps"))
    except (ValueError, TypeError):
        return []  # the pipeline's own shape check has reported it


def _resolve_steps(doc: Located, entries: list[StepEntry], errors: list[str]) -> list[PlannedStep]:
    planned = []
    for entry in entries:
        where = ("steps", entry.index, entry.name)
        try:
            cls = STEPS.get(entry.name)
        except KeyError:
            errors.append(doc.error(where, STEPS.unknown(entry.name)))
            continue
        try:
            params = cls.Params.model_validate(entry.params)
            cls.check(params)
        except ValidationError as err:
            errors += located_errors(doc, where, err, cls.Params)
            continue
        except ValueError as err:
            errors.append(doc.error(where, str(err)))
            continue
        planned.append(PlannedStep(entry.index, cls, params))
    return planned


def _check_columns(doc: Located, reader: Reader, planned: list[PlannedStep],
                   errors: list[str]) -> dict[str, pa.DataType | None]:
    """Walk the steps in order: every column a step needs must exist, with the right type."""
    available = reader.columns()
    for step in planned:
        for col, dtype in step.cls.needs.items():
            where = ("steps", step.index, step.cls.name)
            if col not in available:
                errors.append(doc.error(where, f"needs column {col!r}, which no reader or earlier step provides "
                                               f"(available: {', '.join(available)})"))
            elif dtype is not None and available[col] is not None and available[col] != dtype:
                errors.append(doc.error(where, f"needs column {col!r} as {dtype}, but it is {available[col]}"))
        available.update(step.cls.adds)
        for col in step.cls.removes:
            available.pop(col, None)
    return available


def _stages(planned: list[PlannedStep]) -> list[Stage]:
    stages = [Stage(0)]
    for step in planned:
        if issubclass(step.cls, GlobalStep):
            stages[-1].global_step = step
            stages.append(Stage(len(stages)))
        else:
            stages[-1].steps.append(step)
    return stages
