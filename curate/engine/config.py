"""Pipeline files: YAML loaded with line numbers, `--set` overrides, and the config models.

Every error a user can make in a pipeline file surfaces as a `ConfigError`
naming the file, the line and the key, before any data is read.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from provenance.yamlfile import ConfigError, Located, Strict, apply_overrides, load_yaml, validate

__all__ = ["ConfigError", "Located", "apply_overrides", "load_yaml", "parse"]


class InputConfig(Strict):
    reader: Literal["jsonl", "parquet", "hf_disk", "warc"]
    paths: list[str] = Field(min_length=1)
    source: str | None = None  # the source name for every document
    source_field: str | None = None  # or: the input column holding it
    text_field: str = "text"
    id_field: str = "id"  # kept as the document id where present
    url_field: str = "url"
    keep_columns: list[str] = []  # other input columns to carry through
    # A batch ends at batch_size documents or once it holds batch_mb MiB of text (of HTML for WARC), so a
    # run's memory does not depend on how large its documents are.
    batch_size: int = Field(1000, gt=0)
    batch_mb: float = Field(4, gt=0)

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v

    @field_validator("keep_columns")
    @classmethod
    def _not_core(cls, v):
        clash = [c for c in v if c in ("id", "text", "source", "url", "origin")]
        if clash:
            raise ValueError(f"{', '.join(clash)} are document columns already; keep_columns is for other input columns")
        return v


class OutputConfig(Strict):
    path: str
    format: Literal["parquet", "jsonl"] = "parquet"
    max_shard_mb: float = Field(256, gt=0)  # uncompressed Arrow size at which a shard rolls over
    keep_rejected: int = Field(0, ge=0)  # rejected documents sampled per step, with reasons


class ExecutorConfig(Strict):
    kind: Literal["local"] = "local"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)


class StepEntry(BaseModel):
    name: str
    params: dict[str, Any]
    index: int


class PipelineConfig(Strict):
    name: str
    input: InputConfig
    steps: list[StepEntry] = []
    output: OutputConfig
    executor: ExecutorConfig = ExecutorConfig()

    @field_validator("steps", mode="before")
    @classmethod
    def _entries(cls, v):
        entries = []
        for i, item in enumerate(v or []):
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"item {i}: a step is `- step.name: {{params}}`")
            (name, params), = item.items()
            if params is not None and not isinstance(params, dict):
                raise ValueError(f"item {i}: parameters of {name} must be a mapping")
            entries.append(StepEntry(name=name, params=params or {}, index=i))
        return entries


def parse(doc: Located) -> PipelineConfig:
    return validate(doc, PipelineConfig)
