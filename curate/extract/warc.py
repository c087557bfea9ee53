"""The `warc` reader: WARC and WET files (plain or gzip) to documents, with fastwarc.

HTTP 200 `response` records with an HTML content type become documents whose
raw bytes travel in `html` until `extract.html` turns them into `text`; WET
`conversion` records become documents with their text directly. Every other
record is counted by reason (`request_record`, `http_404`, `not_html`, ...).
`origin` carries file, record index, byte offset, WARC-Record-ID and
WARC-Date, so every document can be traced to its bytes.

fastwarc stops quietly at damage; after the last record the reader checks
that the rest of the file really is that record, and counts and logs a
`corrupt_file` with file and offset where it is not.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

import pyarrow as pa

from curate.engine.config import InputConfig
from curate.engine.readers import WARC_COLUMNS, ReadStats
from curate.engine.schema import CORE, doc_id

HTML_TYPES = {"text/html", "application/xhtml+xml"}
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
SCHEMA = pa.schema([pa.field(n, t) for n, t in {**CORE, **WARC_COLUMNS}.items()])


def read_warc(path: str, cfg: InputConfig, default_source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    rows: dict[str, list] = {n: [] for n in SCHEMA.names}
    position = {"last": None}
    try:
        records = ArchiveIterator(path, parse_http=True)
        for doc in _documents(records, WarcRecordType, path, default_source, stats, position):
            for name, value in doc.items():
                rows[name].append(value)
            if len(rows["id"]) >= cfg.batch_size:
                yield _flush(rows)
        damage = _damage_after(path, position["last"])
    except (OSError, ValueError) as err:  # fastwarc raises on a header it cannot parse
        damage = (position["last"] or 0, f"stopped reading: {err}")
    if damage:
        stats.problem("corrupt_file", f"{path}@{damage[0]}", damage[1])
    if rows["id"]:
        yield _flush(rows)


def _documents(records, types, path: str, source: str, stats: ReadStats, position: dict) -> Iterator[dict]:
    """The records that are documents, as rows of SCHEMA; the others counted by reason."""
    for index, record in enumerate(records):
        position["last"] = record.stream_pos
        kind = record.record_type
        if kind == types.response:
            status = record.http_headers.status_code if record.http_headers else None
            content_type = (record.http_content_type or "").lower()
            if status != 200:
                stats.skip(f"http_{status}" if status else "not_http")
                continue
            if content_type not in HTML_TYPES:
                stats.skip("not_html")
                continue
            html, text = record.reader.read(), ""
            content_type = record.http_headers.get("Content-Type", content_type)
        elif kind == types.conversion:  # WET: text already extracted
            html, content_type = None, record.headers.get("Content-Type", "text/plain")
            text = record.reader.read().decode("utf-8", errors="replace")
        else:
            stats.skip(f"{kind}_record")
            continue
        if not (html or text.strip()):
            stats.skip("empty_body")
            continue
        origin = {"file": path, "row": index, "offset": record.stream_pos, "record_id": record.record_id,
                  "date": record.headers.get("WARC-Date")}
        yield {"id": doc_id("warc", record.record_id), "text": text, "source": source,
               "url": record.headers.get("WARC-Target-URI"), "origin": origin, "html": html,
               "content_type": content_type}


def _flush(rows: dict[str, list]) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_pydict(rows, schema=SCHEMA)
    for v in rows.values():
        v.clear()
    return batch


def _damage_after(path: str, last_pos: int | None) -> tuple[int, str] | None:
    """(offset, what) when the file does not end cleanly with the last record fastwarc gave."""
    size = os.path.getsize(path)
    if last_pos is None:
        return (0, "no readable WARC record") if size else None
    with open(path, "rb") as f:
        f.seek(last_pos)
        tail = f.read()
    compressed = tail[:2] == b"\x1f\x8b"
    if compressed:  # one gzip member per record, as WARC files are written
        inflater = zlib.decompressobj(31)
        try:
            block = inflater.decompress(tail)
        except zlib.error as err:
            return last_pos, f"corrupt gzip member: {err}"
        if not inflater.eof:
            return last_pos, "truncated gzip member"
        rest = inflater.unused_data
        if rest.strip(b"\0"):
            return size - len(rest), "unreadable data after the last record"
        tail = block
    header_end = tail.find(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(tail[: header_end + 2]) if header_end >= 0 else None
    if length is None:
        return last_pos, "record header without Content-Length"
    end = header_end + 4 + int(length.group(1))
    if len(tail) < end:
        return last_pos, f"record truncated: {len(tail) - header_end - 4} of {int(length.group(1))} bytes"
    if tail[end:].strip():
        return last_pos if compressed else last_pos + end, "unreadable data after the last record"
    return None
