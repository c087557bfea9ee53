"""Readers: input files -> RecordBatches with the core document columns.

One input file is one task. Damage is counted, logged with file and line,
and skipped; the documents before it are kept. Supported: JSONL (plain, .gz,
.zst), Parquet, and a dataset saved with `datasets.Dataset.save_to_disk`.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import logging
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from .config import ConfigError, InputConfig
from .schema import CORE, ORIGIN, doc_id

log = logging.getLogger("gristmill")

GLOB_CHARS = set("*?[")
WARC_COLUMNS = {"html": pa.large_binary(), "content_type": pa.string()}


def input_files(cfg: InputConfig) -> list[str]:
    """The run's input files (one task each), sorted; a missing path or empty glob is an error."""
    files, errors = [], []
    for pattern in cfg.paths:
        if GLOB_CHARS & set(pattern):
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not found:
                errors.append(f"input.paths: {pattern!r} matches no files")
        elif os.path.isdir(pattern) and cfg.reader == "hf_disk":
            found = _saved_dataset_files(pattern)
        elif os.path.isdir(pattern):
            found = sorted(str(p) for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith("."))
            if not found:
                errors.append(f"input.paths: directory {pattern!r} is empty")
        elif os.path.exists(pattern):
            found = [pattern]
        else:
            found = []
            errors.append(f"input.paths: {pattern!r} does not exist")
        files.extend(found)
    if errors:
        raise ConfigError(errors)
    if cfg.reader == "parquet":
        _check_parquet_columns(files, cfg)
    return files


def _saved_dataset_files(folder: str) -> list[str]:
    state = Path(folder, "state.json")
    if not state.exists():
        raise ConfigError([f"input.paths: {folder!r} is not a dataset saved with save_to_disk (no state.json)"])
    names = [f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    return [str(Path(folder, n)) for n in names]


def _check_parquet_columns(files: list[str], cfg: InputConfig) -> None:
    errors = []
    for f in files:
        try:
            names = pq.read_schema(f).names
        except (pa.ArrowInvalid, OSError) as err:
            errors.append(f"input: {f} is not a readable Parquet file: {err}")
            continue
        if cfg.text_field not in names:
            errors.append(f"input: {f} has no {cfg.text_field!r} column (columns: {', '.join(names)}); "
                          "set input.text_field")
    if errors:
        raise ConfigError(errors)


class ReadStats:
    """What a reader saw: documents produced, and what it did not turn into documents, by reason."""

    def __init__(self):
        self.docs = 0
        self.bytes = 0
        self.skipped: Counter = Counter()

    def problem(self, kind: str, where: str, detail: str = "") -> None:
        """Damage or bad input: counted and logged with its place."""
        self.skipped[kind] += 1
        log.warning("%s: %s%s", where, kind, f" ({detail})" if detail else "")

    def skip(self, kind: str) -> None:
        """An expected skip (a WARC request record, a 404 page): counted only."""
        self.skipped[kind] += 1

    def as_dict(self) -> dict:
        return {"docs": self.docs, "bytes": self.bytes, "skipped": dict(sorted(self.skipped.items()))}


def reader_columns(cfg: InputConfig) -> dict[str, pa.DataType | None]:
    """The columns steps can use right after reading (None: the input decides the type).
    A WARC reader's `text` is empty until `extract.html` fills it, so it is not offered."""
    columns: dict[str, pa.DataType | None] = dict(CORE)
    if cfg.reader == "warc":
        del columns["text"]
        columns.update(WARC_COLUMNS)
    columns.update({c: None for c in cfg.keep_columns})
    return columns


def read(path: str, cfg: InputConfig, default_source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    if cfg.reader == "warc":
        from curate.extract.warc import read_warc

        batches = read_warc(path, cfg, default_source, stats)
    else:
        batches = {"jsonl": _read_jsonl, "parquet": _read_parquet, "hf_disk": _read_arrow_stream}[cfg.reader](
            path, cfg, default_source, stats)
    for batch in batches:
        stats.docs += batch.num_rows
        payload = batch.column("html") if "html" in batch.schema.names else batch.column("text")
        stats.bytes += pc.sum(pc.binary_length(payload)).as_py() or 0
        yield batch


def batch_bytes(cfg: InputConfig) -> int:
    return int(cfg.batch_mb * (1 << 20))


def bounded(batch: pa.RecordBatch, column: str, cfg: InputConfig) -> Iterator[pa.RecordBatch]:
    """`batch` in slices of at most cfg.batch_size rows, each ending once it holds cfg.batch_mb MiB of `column`."""
    ends = np.cumsum(pc.binary_length(batch.column(column)).fill_null(0).to_numpy(zero_copy_only=False))
    start, limit = 0, batch_bytes(cfg)
    while start < batch.num_rows:
        done = ends[start - 1] if start else 0
        stop = min(int(np.searchsorted(ends, done + limit)) + 1, start + cfg.batch_size, batch.num_rows)
        yield batch.slice(start, stop - start)
        start = stop


def _open_text_stream(path: str) -> io.BufferedIOBase:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst") or path.endswith(".zstd"):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")))
    return open(path, "rb")


def _schema(cfg: InputConfig) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in CORE.items()]
    return pa.schema(fields + [pa.field(c, pa.string()) for c in cfg.keep_columns])


def _read_jsonl(path: str, cfg: InputConfig, default_source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    schema = _schema(cfg)
    rows: dict[str, list] = {n: [] for n in schema.names}
    line_no, offset, flushed_at, limit = 0, 0, 0, batch_bytes(cfg)

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(rows, schema=schema)
        for v in rows.values():
            v.clear()
        return batch

    with _open_text_stream(path) as stream:
        try:
            for raw in stream:
                line_no += 1
                start, offset = offset, offset + len(raw)
                where = f"{path}:{line_no}"
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    stats.problem("invalid_utf8_replaced", where, str(err))
                    line = raw.decode("utf-8", errors="replace")
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as err:
                    stats.problem("malformed_json", where, str(err))
                    continue
                if not isinstance(obj, dict):
                    stats.problem("malformed_json", where, "not a JSON object")
                    continue
                text = obj.get(cfg.text_field)
                if not isinstance(text, str):
                    stats.problem("missing_text", where, f"no string {cfg.text_field!r} field")
                    continue
                rows["text"].append(text)
                ident = obj.get(cfg.id_field)
                rows["id"].append(str(ident) if ident is not None else doc_id(path, line_no))
                rows["source"].append((_str(obj.get(cfg.source_field)) if cfg.source_field else None) or default_source)
                rows["url"].append(_str(obj.get(cfg.url_field)))
                rows["origin"].append({"file": path, "row": line_no, "offset": start,
                                       "record_id": None, "date": None})
                for c in cfg.keep_columns:
                    rows[c].append(_str(obj.get(c)))
                if len(rows["text"]) >= cfg.batch_size or offset - flushed_at >= limit:
                    yield flush()
                    flushed_at = offset
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
            stats.problem("corrupt_file", f"{path}:{line_no}", f"stopped reading: {err}")
    if rows["text"]:
        yield flush()


def _str(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _read_parquet(path: str, cfg: InputConfig, default_source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    pf = pq.ParquetFile(path)
    wanted = {cfg.text_field, cfg.id_field, cfg.url_field, cfg.source_field, *cfg.keep_columns}
    columns = [n for n in pf.schema_arrow.names if n in wanted]
    row = 0
    for batch in pf.iter_batches(batch_size=cfg.batch_size, columns=columns):
        for core in _to_core(batch, path, row, cfg, default_source, stats):
            yield from bounded(core, "text", cfg)
        row += batch.num_rows


def _read_arrow_stream(path: str, cfg: InputConfig, default_source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    row = 0
    with pa.memory_map(path) as source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = iter(reader)
        if cfg.text_field not in reader.schema.names:
            raise ConfigError([f"input: {path} has no {cfg.text_field!r} column "
                               f"(columns: {', '.join(reader.schema.names)}); set input.text_field"])
        for batch in batches:
            for start in range(0, batch.num_rows, cfg.batch_size):
                part = batch.slice(start, cfg.batch_size)
                for core in _to_core(part, path, row, cfg, default_source, stats):
                    yield from bounded(core, "text", cfg)
                row += part.num_rows


def _to_core(batch: pa.RecordBatch, path: str, row0: int, cfg: InputConfig, default_source: str,
             stats: ReadStats) -> Iterator[pa.RecordBatch]:
    """A columnar input batch -> the core schema (missing texts counted and dropped)."""
    n = batch.num_rows
    rows = np.arange(row0, row0 + n, dtype=np.int64)
    names = batch.schema.names
    text = batch.column(cfg.text_field)
    if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        raise ConfigError([f"input: {path}: column {cfg.text_field!r} is {text.type}, not a string"])
    ids = pc.cast(batch.column(cfg.id_field), pa.string()) if cfg.id_field in names else pa.nulls(n, pa.string())
    if ids.null_count:  # rows without a user id get one derived from where they were read
        ids = pc.coalesce(ids, pa.array([doc_id(path, int(r)) for r in rows], pa.string()))
    source = pa.repeat(pa.scalar(default_source, pa.string()), n)
    if cfg.source_field and cfg.source_field in names:
        source = pc.coalesce(pc.cast(batch.column(cfg.source_field), pa.string()), source)
    url = pc.cast(batch.column(cfg.url_field), pa.string()) if cfg.url_field in names else pa.nulls(n, pa.string())
    origin = pa.StructArray.from_arrays(
        [pa.repeat(pa.scalar(path, pa.string()), n), pa.array(rows), pa.nulls(n, pa.int64()),
         pa.nulls(n, pa.string()), pa.nulls(n, pa.string())],
        fields=list(ORIGIN),
    )
    columns = {"id": ids, "text": pc.cast(text, pa.large_string()), "source": source, "url": url, "origin": origin}
    for c in cfg.keep_columns:
        columns[c] = batch.column(c) if c in names else pa.nulls(n, pa.string())
    out = pa.RecordBatch.from_pydict(columns)
    missing = text.null_count
    if missing:
        for r in rows[np.asarray(pc.is_null(text))][:10]:
            stats.problem("missing_text", f"{path}:{r}", "null text")
        stats.skipped["missing_text"] += max(0, missing - 10)
        out = out.filter(pc.is_valid(text))
    yield out
