"""The `warc` reader: WARC and WET files (plain or gzip) to documents, with fastwarc.

HTTP 200 `response` records with an HTML content type become documents whose
raw bytes travel in `html` until `extract.html` turns them into `text`; WET
`conversion` records become documents with their text directly. Every other
record is counted by reason (`request_record`, `http_404`, `not_html`, ...).
A status line fastwarc cannot read (real archives hold `HTTP/1.1 HTTP/1.1 200 OK`,
written by a tool that put the protocol in twice) is read leniently: the first
three-digit code after the protocol tokens is the status. Bodies stored with
their transfer or content encoding (wget keeps `chunked`; a capture that asked
for gzip keeps gzip) are decoded where the bytes really are encoded: archives
also store decoded bodies under the original headers.
`origin` carries file, record index, byte offset, WARC-Record-ID and
WARC-Date, so every document can be traced to its bytes.

fastwarc stops quietly at damage; after the last record the reader checks
that the rest of the file really is that record, and counts and logs a
`corrupt_file` with file and offset where it is not. A last record that is
itself cut short is that `corrupt_file`, not a document.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

import pyarrow as pa

from curate.engine.reader import Reader, ReadStats, origin, register
from curate.engine.schema import CORE, doc_id

HTML_TYPES = {"text/html", "application/xhtml+xml"}
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STATUS = re.compile(r"^(?:HTTP/\d(?:\.\d)?\s+)+(\d{3})(?:\s|$)")
CHUNK = re.compile(rb"([0-9a-fA-F]{1,8})[ \t]*(?:;[^\r\n]*)?\r\n")
GZIP_OR_ZLIB = (b"\x1f\x8b", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")  # magic bytes
MAX_INFLATED = 64 << 20  # a compressed body inflates to at most this much (a page, not a bomb)
COLUMNS = {"html": pa.large_binary(), "content_type": pa.string()}
SCHEMA = pa.schema([pa.field(n, t) for n, t in {**CORE, **COLUMNS}.items()])
ORIGIN_FIELDS = ("file", "row", "offset", "record_id", "date")


@register("warc")
class WarcReader(Reader):
    """`text` is empty until `extract.html` fills it from `html`, so steps are not offered it."""

    payload = "html"
    extra = COLUMNS

    def columns(self) -> dict[str, pa.DataType | None]:
        columns = super().columns()
        del columns["text"]
        return columns

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        yield from read_warc(path, self.params.batch_size, self.params.batch_bytes, self.source, stats)


def read_warc(path: str, batch_size: int, limit: int, source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    """Batches of at most `batch_size` documents, each ending once it holds `limit` bytes of HTML (WET: text)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    rows: dict[str, list] = {n: [] for n in (*SCHEMA.names, *ORIGIN_FIELDS) if n != "origin"}
    position = {"last": None}
    held = None  # the latest document, kept back until we know its record is whole
    size = 0
    try:
        records = ArchiveIterator(path, parse_http=True)
        for doc in _documents(records, WarcRecordType, path, source, stats, position):
            if held is not None:
                size += _append(rows, held)
                if len(rows["id"]) >= batch_size or size >= limit:
                    yield _flush(rows)
                    size = 0
            held = doc
        damage = _damage_after(path, position["last"])
    except (OSError, ValueError) as err:  # fastwarc raises on a header it cannot parse
        damage = (position["last"] or 0, f"stopped reading: {err}", True)
    if damage:
        stats.problem("corrupt_file", f"{path}@{damage[0]}", damage[1])
    if held is not None and not (damage and not damage[2] and held["offset"] == position["last"]):
        _append(rows, held)  # a truncated last record is the corrupt_file counted above, not a document
    if rows["id"]:
        yield _flush(rows)


def _append(rows: dict[str, list], doc: dict) -> int:
    """Adds `doc` to the batch's rows; returns the size of its HTML (of its text for a WET record)."""
    for name, value in doc.items():
        rows[name].append(value)
    return len(doc["html"] or doc["text"])


def _documents(records, types, path: str, source: str, stats: ReadStats, position: dict) -> Iterator[dict]:
    """The records that are documents, as rows of SCHEMA; the others counted by reason."""
    for index, record in enumerate(records):
        position["last"] = record.stream_pos
        kind = record.record_type
        if kind == types.response:
            status = _status(record.http_headers)
            content_type = (record.http_content_type or "").lower()
            if status != 200:
                stats.skip(f"http_{status}" if status else "not_http")
                continue
            if content_type not in HTML_TYPES:
                stats.skip("not_html")
                continue
            html, text = _decoded(record.reader.read(), record.http_headers), ""
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
        yield {"id": doc_id("warc", record.record_id), "text": text, "source": source,
               "url": record.headers.get("WARC-Target-URI"), "html": html, "content_type": content_type,
               "file": path, "row": index, "offset": record.stream_pos, "record_id": record.record_id,
               "date": record.headers.get("WARC-Date")}


def _decoded(body: bytes, headers) -> bytes:
    """The body without the transfer and content encoding the headers name, where it really has them."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        body = _dechunk(body)
    encoding = (headers.get("Content-Encoding") or "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate") and body[:2] in GZIP_OR_ZLIB:
        inflater = zlib.decompressobj(47)  # gzip or zlib header, detected
        try:
            body = inflater.decompress(body, MAX_INFLATED)
        except zlib.error:
            pass  # left as stored; extraction will find no text in it
    return body


def _dechunk(body: bytes) -> bytes:
    """A chunked body joined. A body that does not start with a well-formed chunk is returned as it is
    (stored decoded under a stale header); one whose chunking breaks off later (a truncated record)
    keeps the chunks before the break and the rest as stored."""
    parts, pos = [], 0
    while (size := CHUNK.match(body, pos)) is not None:
        start, length = size.end(), int(size.group(1), 16)
        if length == 0:
            return b"".join(parts)
        end = start + length
        if body[end:end + 2] != b"\r\n":
            if parts or end >= len(body):  # broken later, or the first chunk is cut off by the record's end
                parts.append(body[start:])
                pos = len(body)
            break
        parts.append(body[start:end])
        pos = end + 2
    return b"".join(parts) + body[pos:] if parts else body


def _status(headers) -> int | None:
    """The HTTP status code, also where fastwarc could not parse the status line."""
    if headers is None:
        return None
    if headers.status_code is not None:
        return headers.status_code
    found = STATUS.match(headers.status_line or "")
    return int(found.group(1)) if found else None


def _flush(rows: dict[str, list]) -> pa.RecordBatch:
    columns = {**rows, "origin": origin(*(rows[f] for f in ORIGIN_FIELDS))}
    batch = pa.RecordBatch.from_pydict({n: columns[n] for n in SCHEMA.names}, schema=SCHEMA)
    for v in rows.values():
        v.clear()
    return batch


def _damage_after(path: str, last_pos: int | None) -> tuple[int, str, bool] | None:
    """(offset, what, whether the last record itself is whole) when the file does not end cleanly with
    the last record fastwarc gave."""
    size = os.path.getsize(path)
    if last_pos is None:
        return (0, "no readable WARC record", True) if size else None
    with open(path, "rb") as f:
        f.seek(last_pos)
        tail = f.read()
    compressed = tail[:2] == b"\x1f\x8b"
    if compressed:  # one gzip member per record, as WARC files are written
        inflater = zlib.decompressobj(31)
        try:
            block = inflater.decompress(tail)
        except zlib.error as err:
            return last_pos, f"corrupt gzip member: {err}", False
        if not inflater.eof:
            return last_pos, "truncated gzip member", False
        rest = inflater.unused_data
        if rest.strip(b"\0"):
            return size - len(rest), "unreadable data after the last record", True
        tail = block
    header_end = tail.find(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(tail[: header_end + 2]) if header_end >= 0 else None
    if length is None:
        return last_pos, "record header without Content-Length", False
    end = header_end + 4 + int(length.group(1))
    if len(tail) < end:
        return (last_pos, f"record truncated: {len(tail) - header_end - 4} of {int(length.group(1))} bytes",
                False)
    if tail[end:].strip():
        return last_pos if compressed else last_pos + end, "unreadable data after the last record", True
    return None
