"""The reader protocol: input files -> RecordBatches with the core document columns.

A reader is a registered component like a step (`input.reader: jsonl` is `curate/readers/jsonl.py`):
its own typed parameters (the common ones below, plus its own), the columns it provides, how it lists
its files (one task each), and `read(path, stats)`, a generator of batches that end at
`input.batch_size` rows or `input.batch_mb` MiB of payload, whichever comes first. A document larger than
`input.max_doc_mb` is counted (`doc_too_large`) and skipped, found while reading, so one huge line, record or
value never has to fit in memory. Damage is counted, logged with its place and skipped; the documents
before it are kept.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from provenance.yamlfile import ConfigError, Strict

from .registry import Registry
from .schema import CORE, ORIGIN

log = logging.getLogger("gristmill")

PLACES_KEPT = 10  # places of each kind of damage recorded in the manifest (all are in run.log)

GLOB_CHARS = set("*?[")
READERS = Registry("reader", lambda name: f"curate.readers.{name}", ["curate.readers"])
register = READERS.register


class Synthetic(Strict):
    generator: str = Field(min_length=1)  # the model or program that wrote the documents


class InputParams(Strict):
    """`input:` keys every reader takes."""

    reader: str
    paths: list[str] = Field(min_length=1)
    source: str | None = None  # the source name for every document (default: the pipeline's name)
    license: str | None = None  # a licence every document of this input is under (adds a `license` column)
    synthetic: Synthetic | None = None  # machine-written input: {generator: NAME} (adds a `synthetic` column)
    # A batch ends at batch_size documents or once it holds batch_mb MiB of text (of HTML for WARC), so a
    # run's memory does not depend on how large its documents are.
    batch_size: int = Field(1000, gt=0)
    batch_mb: float = Field(4, gt=0)
    # A larger document (JSON line, WARC record body, Parquet text) is counted and skipped: a step holds
    # ~10-15x its largest document while deciding on it (Gopher statistics), so this bounds a worker's memory.
    max_doc_mb: float = Field(16, gt=0)

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v

    @property
    def batch_bytes(self) -> int:
        return int(self.batch_mb * (1 << 20))

    @property
    def max_doc_bytes(self) -> int:
        return int(self.max_doc_mb * (1 << 20))


class TableParams(InputParams):
    """`input:` keys of readers whose records are rows with named fields (JSONL, Parquet, saved datasets)."""

    source_field: str | None = None  # the input column naming each document's source
    text_field: str = "text"
    id_field: str = "id"  # kept as the document id where present
    url_field: str = "url"
    license_field: str | None = None  # the input column naming each document's licence (else `license`)
    keep_columns: list[str] = []  # other input columns to carry through

    @field_validator("keep_columns")
    @classmethod
    def _not_core(cls, v):
        clash = [c for c in v if c in (*CORE, "license", "synthetic")]
        if clash:
            raise ValueError(f"{', '.join(clash)} are document columns already; keep_columns is for other input columns")
        return v


def missing_fields(params: TableParams, seen: dict[str, set[str]], where: str) -> list[str]:
    """Errors for the fields the input names that the files lack (`seen`: file -> the fields found in
    `where` of it). The text field must be in every file; the source, licence and kept columns in at
    least one (a file without them gives the default source, no licence, nulls)."""
    def shown(names: set[str]) -> str:
        return ", ".join(sorted(names)[:20]) or "none"

    errors = [f"input.text_field: {f} has no {params.text_field!r} in {where} (fields: {shown(names)})"
              for f, names in seen.items() if params.text_field not in names]
    anywhere = set().union(*seen.values()) if seen else set()
    optional = {"source_field": [params.source_field], "license_field": [params.license_field],
                "keep_columns": params.keep_columns}
    errors += [f"input.{key}: no input file has {field!r} in {where} (fields: {shown(anywhere)})"
               for key, fields in optional.items() for field in fields if field and seen and field not in anywhere]
    return errors


class ReadStats:
    """What a reader saw: documents produced, and what it did not turn into documents, by reason."""

    def __init__(self):
        self.docs = 0
        self.bytes = 0
        self.skipped: Counter = Counter()
        self.sources: dict[str, Counter] = {}  # source -> {"docs": n, "bytes": n}
        self.places: dict[str, list[str]] = {}  # kind of damage -> its first places (file:line, file@offset)

    def problem(self, kind: str, where: str, detail: str = "") -> None:
        """Damage or bad input: counted and logged with its place."""
        self.skipped[kind] += 1
        places = self.places.setdefault(kind, [])
        if len(places) < PLACES_KEPT:
            places.append(where)
        log.warning("%s: %s%s", where, kind, f" ({detail})" if detail else "")

    def skip(self, kind: str) -> None:
        """An expected skip (a WARC request record, a 404 page): counted only."""
        self.skipped[kind] += 1

    def as_dict(self) -> dict:
        return {"docs": self.docs, "bytes": self.bytes, "skipped": dict(sorted(self.skipped.items())),
                "sources": {n: dict(c) for n, c in sorted(self.sources.items())},
                "places": dict(sorted(self.places.items()))}


class Reader:
    """Reads one kind of input file. Subclasses set `Params`, `payload` and write `read`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[InputParams]] = InputParams
    payload: ClassVar[str] = "text"  # the column whose bytes are counted as read and bound a batch
    extra: ClassVar[dict[str, pa.DataType]] = {}  # columns besides the core ones

    def __init__(self, params: InputParams, default_source: str):
        self.params, self.source = params, params.source or default_source

    def columns(self) -> dict[str, pa.DataType | None]:
        """The columns steps can use right after reading (None: the input decides the type)."""
        columns: dict[str, pa.DataType | None] = {**CORE, **self.extra}
        if self.licensed:
            columns["license"] = pa.string()
        if self.params.synthetic:
            columns["synthetic"] = pa.string()
        columns.update({c: None for c in getattr(self.params, "keep_columns", [])})
        return columns

    def schema(self) -> pa.Schema:
        """The batches' schema as `read` makes them, where the input does not decide a column's type (kept
        columns as strings); `batches` adds the synthetic mark after."""
        return pa.schema([(n, t if t is not None else pa.string()) for n, t in self.columns().items() if n != "synthetic"])

    @property
    def licensed(self) -> bool:
        return bool(self.params.license or getattr(self.params, "license_field", None))

    def files(self) -> list[str]:
        """The run's input files (one task each), by real path once each, sorted per pattern;
        a missing path or an empty glob is an error."""
        return list_files(self.params.paths)

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def batches(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        """`read`, counted, with the source-level licence and synthetic mark where the input gives them."""
        for batch in self.read(path, stats):
            sizes = pc.binary_length(batch.column(self.payload)).fill_null(0)
            stats.docs += batch.num_rows
            stats.bytes += pc.sum(sizes).as_py() or 0
            for row in pa.table({"source": batch.column("source"), "bytes": sizes}).group_by("source").aggregate(
                    [("bytes", "count"), ("bytes", "sum")]).to_pylist():
                stats.sources.setdefault(row["source"], Counter()).update(
                    {"docs": row["bytes_count"], "bytes": row["bytes_sum"]})
            if self.params.license and "license" not in batch.schema.names:
                batch = batch.append_column("license", pa.repeat(pa.scalar(self.params.license), batch.num_rows))
            if self.params.synthetic:
                batch = batch.append_column("synthetic", pa.repeat(pa.scalar(self.params.synthetic.generator),
                                                                   batch.num_rows))
            yield batch


def make_reader(params: dict | InputParams, default_source: str) -> Reader:
    """The reader an `input:` mapping names, with its parameters validated."""
    if isinstance(params, dict):
        params = READERS.get(params["reader"]).Params.model_validate(params)
    return READERS.get(params.reader)(params, default_source)


def list_files(patterns: list[str]) -> list[str]:
    """The files `patterns` name (paths, folders, globs), sorted per pattern and each listed once: a file
    found again under another name (a symlink, a link round a loop) keeps the first name. A folder and a
    `**` glob are walked without entering symlinked folders, so a symlink loop is not gone round (glob's
    `**` would follow it until the path grows too long); names starting with '.' are skipped, as glob does.
    A missing path or an empty glob is an error."""
    files, seen, errors = [], set(), []
    for pattern in patterns:
        if GLOB_CHARS & set(pattern):
            found = walk(pattern) if "**" in pattern else sorted(filter(os.path.isfile, glob.glob(pattern)))
            if not found:
                errors.append(f"input.paths: {pattern!r} matches no files")
        elif os.path.isdir(pattern):  # rglob does not enter symlinked folders
            found = sorted(str(p) for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith("."))
            if not found:
                errors.append(f"input.paths: directory {pattern!r} is empty")
        elif os.path.exists(pattern):
            found = [pattern]
        else:
            found = []
            errors.append(f"input.paths: {pattern!r} does not exist")
        for path in found:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                files.append(path)
    if errors:
        raise ConfigError(errors)
    return files


def walk(pattern: str) -> list[str]:
    """The files matching a glob with `**` (any number of folders), sorted: found by walking the folder
    the pattern starts from, not entering symlinked folders or hidden ones."""
    top = pattern
    while GLOB_CHARS & set(top):
        top = os.path.dirname(top)
    parts = pattern[len(top):].lstrip(os.sep).split(os.sep)
    found = []
    for folder, dirs, names in os.walk(top or os.curdir):  # followlinks=False
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = os.path.relpath(os.path.join(folder, name), top or os.curdir)
            if not name.startswith(".") and matches(path.split(os.sep), parts):
                found.append(os.path.join(top, path))
    return sorted(p for p in found if os.path.isfile(p))


def matches(names: list[str], parts: list[str]) -> bool:
    """Whether a path's `names` match a glob's `parts` (`**`: any number of names, fnmatch for the rest)."""
    if not parts:
        return not names
    if parts[0] == "**":
        return any(matches(names[i:], parts[1:]) for i in range(len(names) + 1))
    return bool(names) and fnmatch.fnmatchcase(names[0], parts[0]) and matches(names[1:], parts[1:])


def bounded(batch: pa.RecordBatch, column: str, params: InputParams) -> Iterator[pa.RecordBatch]:
    """`batch` in slices of at most batch_size rows, each ending once it holds batch_mb MiB of `column`."""
    ends = np.cumsum(pc.binary_length(batch.column(column)).fill_null(0).to_numpy(zero_copy_only=False))
    start, limit = 0, params.batch_bytes
    while start < batch.num_rows:
        done = ends[start - 1] if start else 0
        stop = min(int(np.searchsorted(ends, done + limit)) + 1, start + params.batch_size, batch.num_rows)
        yield batch.slice(start, stop - start)
        start = stop


def origin(files: list | pa.Array, rows, offsets=None, record_ids=None, dates=None) -> pa.StructArray:
    """The `origin` column: where each document was read (file, row or line, byte offset, record id,
    fetch date); the one place every reader builds it."""
    n = len(rows)
    parts = [files, rows, offsets, record_ids, dates]
    arrays = [p if isinstance(p, pa.Array) else pa.array(p, t.type) if p is not None else pa.nulls(n, t.type)
              for p, t in zip(parts, ORIGIN)]
    return pa.StructArray.from_arrays(arrays, fields=list(ORIGIN))
