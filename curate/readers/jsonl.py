"""The `jsonl` reader: one JSON object per line, plain, .gz or .zst.

Malformed JSON, lines that are not objects and lines without a string text field are counted and
logged with file:line; invalid UTF-8 is replaced and counted; a corrupt or truncated compressed file
keeps the documents before the damage. Lines are read at most `input.max_doc_mb` at a time: a longer one
is read past, not held, and counted as `doc_too_large`.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator

import orjson
import pyarrow as pa
import zstandard

from curate.engine.reader import Reader, ReadStats, TableParams, missing_fields, origin, register
from curate.engine.schema import doc_id
from provenance.yamlfile import ConfigError


def open_stream(path: str) -> io.BufferedIOBase:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst") or path.endswith(".zstd"):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")))
    return open(path, "rb")


def skip_line(stream: io.BufferedIOBase) -> int:
    """Reads past the rest of the current line, a MiB at a time; returns the bytes read."""
    skipped = 0
    while piece := stream.readline(1 << 20):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def as_string(value) -> str | None:
    """A field as the string column it becomes: strings as they are, anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


SAMPLED_LINES = 20  # first lines of each file whose fields are checked against the config before a run


def first_fields(path: str, limit: int) -> set[str]:
    """The fields of the first `limit` JSON objects of a file (damage there is the reader's to count)."""
    names: set[str] = set()
    try:
        with open_stream(path) as stream:
            for _ in range(limit):
                line = stream.readline(1 << 20)
                if not line:
                    break
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    names.update(obj)
    except (EOFError, OSError, zlib.error, zstandard.ZstdError):
        pass
    return names


@register("jsonl")
class JsonlReader(Reader):
    """JSON lines (plain, .gz, .zst); the fields the config names are checked on each file's first lines."""

    Params = TableParams

    def files(self) -> list[str]:
        files = super().files()
        # an empty or unreadable start is counted while reading, not guessed at here
        seen = {f: names for f in files if (names := first_fields(f, SAMPLED_LINES))}
        errors = missing_fields(self.params, seen, f"its first {SAMPLED_LINES} lines")
        if errors:
            raise ConfigError(errors)
        return files

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        cfg = self.params
        schema = self.schema()
        rows: dict[str, list] = {n: [] for n in schema.names if n != "origin"}
        lines, offsets = [], []
        line_no, offset, flushed_at, limit, max_doc = 0, 0, 0, cfg.batch_bytes, cfg.max_doc_bytes

        def flush() -> pa.RecordBatch:
            columns = {**rows, "origin": origin(pa.repeat(pa.scalar(path), len(lines)), lines, offsets)}
            batch = pa.RecordBatch.from_pydict({n: columns[n] for n in schema.names}, schema=schema)
            for v in (*rows.values(), lines, offsets):
                v.clear()
            return batch

        with open_stream(path) as stream:
            try:
                while raw := stream.readline(max_doc + 1):
                    line_no += 1
                    start, offset = offset, offset + len(raw)
                    where = f"{path}:{line_no}"
                    if len(raw) > max_doc and not raw.endswith(b"\n"):
                        offset += skip_line(stream)
                        stats.problem("doc_too_large", where, f"a line over {cfg.max_doc_mb:g} MiB")
                        continue
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
                    rows["source"].append((as_string(obj.get(cfg.source_field)) if cfg.source_field else None)
                                          or self.source)
                    rows["url"].append(as_string(obj.get(cfg.url_field)))
                    if self.licensed:
                        rows["license"].append((as_string(obj.get(cfg.license_field)) if cfg.license_field
                                                else None) or cfg.license)
                    for c in cfg.keep_columns:
                        rows[c].append(as_string(obj.get(c)))
                    lines.append(line_no)
                    offsets.append(start)
                    if len(lines) >= cfg.batch_size or offset - flushed_at >= limit:
                        yield flush()
                        flushed_at = offset
            except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
                stats.problem("corrupt_file", f"{path}:{line_no}", f"stopped reading: {err}")
        if lines:
            yield flush()
