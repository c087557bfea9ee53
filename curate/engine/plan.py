"""Plan a run: resolve every step, validate parameters and columns, split into stages.

Everything here happens before any document is read, so `gristmill validate`
and the start of `gristmill run` report all config errors at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field

import pyarrow as pa
from pydantic import ValidationError

from .config import ConfigError, Located, PipelineConfig, apply_overrides, load_yaml, parse
from .readers import input_files, reader_columns
from .step import GlobalStep, Params, Step, all_steps, get_step


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
    """Streaming steps run per task; `barrier` is the global step whose keys the stage emits."""

    index: int
    steps: list[PlannedStep] = field(default_factory=list)
    barrier: PlannedStep | None = None


@dataclass
class Plan:
    config: PipelineConfig
    source_path: str
    files: list[str]
    stages: list[Stage]
    columns: dict[str, pa.DataType | None]  # the output schema; None where the input decides the type

    def resolved(self) -> dict:
        """The config with every default filled in: what the run really does."""
        data = self.config.model_dump(mode="json")
        data["steps"] = [
            {s.cls.name: s.params.model_dump(mode="json")}
            for stage in self.stages for s in stage.steps + ([stage.barrier] if stage.barrier else [])
        ]
        return data

    def config_hash(self) -> str:
        blob = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


def load_plan(path: str, overrides: list[str] = (), check_inputs: bool = True) -> Plan:
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    config = parse(doc)
    errors: list[str] = []
    planned = _resolve_steps(doc, config, errors)
    columns = _check_columns(doc, config, planned, errors)
    files: list[str] = []
    if check_inputs:
        try:
            files = input_files(config.input)
        except ConfigError as err:
            errors += [doc.error(("input", "paths"), e.removeprefix("input.paths: ")) for e in err.errors]
    if errors:
        raise ConfigError(errors)
    return Plan(config, path, files, _stages(planned), columns)


def _resolve_steps(doc: Located, config: PipelineConfig, errors: list[str]) -> list[PlannedStep]:
    planned = []
    for entry in config.steps:
        where = ("steps", entry.index, entry.name)
        try:
            cls = get_step(entry.name)
        except KeyError:
            close = difflib.get_close_matches(entry.name, list(all_steps()), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `gristmill steps` lists them"
            errors.append(doc.error(where, f"unknown step {entry.name!r}{hint}"))
            continue
        try:
            params = cls.Params.model_validate(entry.params)
            cls.check(params)
        except ValidationError as err:
            errors += [doc.error(where + tuple(e["loc"]), e["msg"]) for e in err.errors()]
            continue
        except ValueError as err:
            errors.append(doc.error(where, str(err)))
            continue
        planned.append(PlannedStep(entry.index, cls, params))
    return planned


def _check_columns(doc: Located, config: PipelineConfig, planned: list[PlannedStep],
                   errors: list[str]) -> dict[str, pa.DataType | None]:
    """Walk the steps in order: every column a step needs must exist, with the right type."""
    available = reader_columns(config.input)
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
            stages[-1].barrier = step
            stages.append(Stage(len(stages)))
        else:
            stages[-1].steps.append(step)
    return stages
