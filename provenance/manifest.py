"""The run manifest: what a curation run read, did and wrote, as a typed, versioned model.

Written once at the end of a run (`OUT/manifest.json`) and read back through the same model by
`gristmill inspect`, tokenize (which records the manifests it read) and data cards. Per step and per
source: documents and bytes in and out, removals by reason, the step's own counts, seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .files import write_atomic
from .yamlfile import ConfigError

VERSION = 1


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counts(Record):
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    removed: dict[str, int] = {}  # documents removed, by reason
    counters: dict[str, int] = {}  # the step's own named counts (e.g. emails_replaced)


class StepRecord(Counts):
    step: str  # "INDEX:NAME", INDEX its position in the YAML's steps
    seconds: float = 0.0
    sources: dict[str, Counts] = {}


class InputFile(Record):
    file: str
    bytes: int
    sha256: str


class SourceTotals(Record):
    docs: int
    bytes: int


class ReadRecord(Record):
    docs: int = 0
    bytes: int = 0  # of the reader's payload (text; HTML for WARC)
    skipped: dict[str, int] = {}  # records not turned into documents, by reason
    sources: dict[str, SourceTotals] = {}
    places: dict[str, list[str]] = {}  # kind of damage -> its first places (file:line or file@offset)


class Shard(Record):
    name: str
    rows: int | None  # None for JSONL shards
    bytes: int


class OutputRecord(Record):
    path: str
    format: str
    docs: int
    bytes: int
    shards: list[Shard]
    columns: dict[str, str]  # name -> Arrow type ("from input" where the input decides)
    sources: dict[str, SourceTotals] = {}
    places: dict[str, list[str]] = {}  # kind of damage -> its first places (file:line or file@offset)


class RunManifest(Record):
    kind: Literal["curate"] = "curate"
    version: int = VERSION
    name: str
    config_hash: str
    config: dict
    config_file: str
    finished: str  # ISO time, UTC
    packages: dict[str, str | None]
    inputs: list[InputFile]
    read: ReadRecord
    steps: list[StepRecord]
    output: OutputRecord
    seconds: float
    reports: dict[str, list[str]] = {}  # step label -> the report files it wrote, relative to the output folder

    def save(self, path: str | Path) -> None:
        write_atomic(path, self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: str | Path) -> RunManifest:
        """The manifest at `path`; a ConfigError naming the file if it is not one this version reads."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError([f"{path}: not a readable run manifest ({err})"]) from None
        if isinstance(data, dict) and data.get("version", VERSION) > VERSION:
            raise ConfigError([f"{path}: manifest version {data['version']} is newer than this gristmill reads "
                               f"({VERSION}); upgrade gristmill"])
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError([f"{path}: not a gristmill run manifest: {err.errors()[0]['loc']}: "
                               f"{err.errors()[0]['msg']}"]) from None
