"""The `gristmill quality train` YAML: labelled sources, sampling, the held-out split, fastText
parameters, where the model goes. Loaded with provenance/yamlfile.py, so a mistake names its line.

A source gives every document one `label`, or reads labels from a column (`label_field`), optionally
cut into score bins (`bins`). Its `input` is any reader's mapping, as in a pipeline (jsonl, parquet -
a run's output folder is Parquet - warc, hf_disk), and `steps` any streaming steps to run first
(e.g. `extract.html` on WARC records).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from curate.filters.cache import cache_dir
from provenance.yamlfile import ConfigError, Strict, load

LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")  # a fastText label: no whitespace


def model_folder(name: str) -> Path:
    """Where a model trained without an `output` folder lives: ~/.cache/gristmill/quality/NAME."""
    return cache_dir() / "quality" / name


class Source(Strict):
    name: str  # how the card names this source
    input: dict[str, Any]  # a pipeline `input:` mapping (reader: jsonl | parquet | warc | hf_disk, paths, ...)
    steps: list[dict[str, Any]] = []  # streaming steps run on the source first, as in a pipeline
    label: str | None = None  # every document's label
    label_field: str | None = None  # or: the column holding each document's label (list it in input.keep_columns)
    bins: list[float] | None = None  # a numeric label_field cut at these edges into labels "0", "1", ...
    max_docs: int | None = Field(None, gt=0)  # read at most this many documents (input order)

    @model_validator(mode="after")
    def _one_label(self):
        if (self.label is None) == (self.label_field is None):
            raise ValueError("give either label (one label for the source) or label_field (a column)")
        if self.label is not None and not LABEL.match(self.label):
            raise ValueError(f"label {self.label!r}: letters, digits and _.+- only")
        if self.bins is not None and (self.label_field is None or list(self.bins) != sorted(set(self.bins))):
            raise ValueError("bins: increasing edges, for a numeric label_field")
        return self


class FastTextParams(Strict):
    """fastText supervised parameters (its own names); thread is 1, so training is deterministic."""

    epoch: int = Field(20, gt=0)
    lr: float = Field(0.5, gt=0)
    dim: int = Field(32, gt=0)
    wordNgrams: int = Field(2, ge=1)  # noqa: N815 - fastText's name
    minCount: int = Field(2, ge=1)  # noqa: N815
    minn: int | None = Field(None, ge=1)  # character n-grams (off unless set: passing 0 makes fastText 0.9.2 NaN)
    maxn: int | None = Field(None, ge=1)
    bucket: int = Field(200_000, ge=0)  # hashed n-gram rows: bucket x dim x 4 bytes of model
    loss: str = "softmax"


class TrainConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output: str | None = None  # folder for model.bin, card.json, card.md (default ~/.cache/gristmill/quality/NAME)
    sources: list[Source] = Field(min_length=1)
    positive: list[str] | None = None  # labels whose probability is quality_score (binary or grouped classes)
    values: dict[str, float] | None = None  # or: each label's value; quality_score is the expected value
    max_chars: int | None = Field(10_000, gt=0)  # normalization: score the first characters only
    balance: bool = True  # as many documents of every label as of the rarest
    max_per_label: int | None = Field(None, gt=0)
    dedup: bool = True  # one copy of each normalized text, so no copy sits on both sides of the split
    heldout: float = Field(0.2, gt=0, lt=1)  # share of documents held out, by a hash of their id
    seed: int = 0
    fasttext: FastTextParams = FastTextParams()
    notes: str = ""  # limits and intended use, copied into the card

    @field_validator("output")
    @classmethod
    def _expand(cls, v):
        return os.path.expanduser(v) if v else v

    @model_validator(mode="after")
    def _scoring(self):
        if (self.positive is None) == (self.values is None):
            raise ValueError("give either positive (labels that count as quality) or values (a value per label)")
        return self

    @property
    def folder(self) -> Path:
        return Path(self.output) if self.output else model_folder(self.name)


def load_config(path: str, overrides: list[str] = ()) -> TrainConfig:
    cfg = load(path, TrainConfig, overrides)
    fixed = [s.label for s in cfg.sources if s.label is not None]
    named = cfg.positive or list(cfg.values or {})
    unknown = sorted(set(named) - set(fixed)) if all(s.label_field is None for s in cfg.sources) else []
    if unknown:
        raise ConfigError([f"{path}: positive/values name {', '.join(unknown)}, which no source labels "
                           f"(labels: {', '.join(sorted(set(fixed)))})"])
    return cfg
