"""The shape of a pipeline file. `input:` and `executor:` are checked against the chosen reader's and
executor's own parameters when the run is planned (curate/engine/plan.py), so that every error of a
file is reported at once, each with its file, line and key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from provenance.yamlfile import Strict


class OutputConfig(Strict):
    path: str
    format: Literal["parquet", "jsonl"] = "parquet"
    max_shard_mb: float = Field(256, gt=0)  # uncompressed Arrow size at which a shard rolls over
    keep_rejected: int = Field(0, ge=0)  # rejected documents sampled per step, with reasons


class ErrorBudget(Strict):
    """How many documents a step may fail on (raise) before the run stops: more than `docs` and more
    than `share` of the documents it has seen in a task. A step that fails on most documents is broken
    (a missing model, a wrong parameter), not a filter."""

    docs: int = Field(10, ge=0)
    share: float = Field(0.01, ge=0, le=1)


class StepEntry(BaseModel):
    name: str
    params: dict[str, Any]
    index: int


class PipelineConfig(Strict):
    name: str
    input: dict[str, Any]  # a reader's parameters (curate/engine/reader.py)
    steps: list[StepEntry] = []
    output: OutputConfig
    executor: dict[str, Any] = {"kind": "local"}  # an executor's parameters (curate/engine/executor.py)
    error_budget: ErrorBudget = ErrorBudget()

    @field_validator("steps", mode="before")
    @classmethod
    def _entries(cls, v):
        return step_entries(v)


def step_entries(items) -> list[StepEntry]:
    """`steps:` items (`- step.name: {params}` or `- step.name`) as entries; ValueError on a wrong shape."""
    if items is None:
        return []
    if not isinstance(items, list):  # a string would otherwise be read as one step per letter
        raise ValueError("steps must be a list of `- step.name: {params}` items")
    entries = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"item {i}: a step is `- step.name: {{params}}`")
        (name, params), = item.items()
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"item {i}: parameters of {name} must be a mapping")
        entries.append(StepEntry(name=name, params=params or {}, index=i))
    return entries
