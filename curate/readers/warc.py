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
WARC-Date, so every document can be traced to its bytes; `url` is the
WARC-Target-URI without the angle brackets wget writes round it.
`input.http_headers` (opt-in, e.g. `[X-Robots-Tag, TDM-Reservation, TDM-Policy, Link]`) keeps those
HTTP response headers in an `http_headers` column, one `name: value` line each (names lowercased),
for the provenance steps (opt-out signals, `Link: <...>; rel="license"`).

A record whose body is over `input.max_doc_mb` is skipped as `doc_too_large`
before its body is read (its Content-Length says so; fastwarc reads no further
than that however far a gzip member inflates). Every record counts once: as a
document or by its reason, settled only once the next record shows it whole.

fastwarc stops at damage, quietly or raising; after the last record the reader
checks that the rest of the file really is that record. Where it is not, the
file is searched for the next record start (a `WARC/1.0` or `WARC/1.1` line, in
a gzip file a member that inflates to one) and read on from there: a Content-Length
too short or too long in a middle record costs that record, counted as
`corrupt_record` with file and offset, and no later one. With no record after
the damage it is a `corrupt_file`; a last record that is itself cut short is
that `corrupt_file`, not a document.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

import pyarrow as pa
from pydantic import field_validator

from curate.engine.reader import InputParams, Reader, ReadStats, origin, register
from curate.engine.schema import CORE, doc_id

HTML_TYPES = {"text/html", "application/xhtml+xml"}
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STATUS = re.compile(r"^(?:HTTP/\d(?:\.\d)?\s+)+(\d{3})(?:\s|$)")
CHUNK = re.compile(rb"([0-9a-fA-F]{1,8})[ \t]*(?:;[^\r\n]*)?\r\n")
GZIP_OR_ZLIB = (b"\x1f\x8b", b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")  # magic bytes
RECORD_STARTS = (b"WARC/1.0\r\n", b"WARC/1.1\r\n")
RECORD_LINE = re.compile(rb"\nWARC/1\.[01]\r\n")
GZIP_MEMBER = re.compile(rb"\x1f\x8b\x08")
PIECE = 1 << 20  # the most read at once when checking the end of a file or searching it after damage
COLUMNS = {"html": pa.large_binary(), "content_type": pa.string()}
SCHEMA = pa.schema([pa.field(n, t) for n, t in {**CORE, **COLUMNS}.items()])
ORIGIN_FIELDS = ("file", "row", "offset", "record_id", "date")
HEADERS_COLUMN = {"http_headers": pa.string()}  # with input.http_headers: the kept headers, `name: value` lines


class WarcParams(InputParams):
    http_headers: list[str] = []  # HTTP response headers to keep in an `http_headers` column (none: no column)

    @field_validator("http_headers")
    @classmethod
    def _names(cls, v):
        bad = [h for h in v if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", h)]
        if bad:
            raise ValueError(f"not HTTP header names: {', '.join(map(repr, bad))}")
        return [h.lower() for h in v]


@register("warc")
class WarcReader(Reader):
    """`text` is empty until `extract.html` fills it from `html`, so steps are not offered it."""

    Params = WarcParams
    payload = "html"
    extra = COLUMNS

    def columns(self) -> dict[str, pa.DataType | None]:
        columns = super().columns()
        del columns["text"]
        if self.params.http_headers:
            columns.update(HEADERS_COLUMN)
        return columns

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        yield from read_warc(path, self.params, self.source, stats)


def read_warc(path: str, params: InputParams, source: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
    """Batches of at most `batch_size` documents, each ending once it holds `batch_mb` of HTML (WET: text)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    keep_headers = tuple(getattr(params, "http_headers", ()))
    schema = pa.schema([*SCHEMA, *(pa.field(n, t) for n, t in HEADERS_COLUMN.items() if keep_headers)])
    rows: dict[str, list] = {n: [] for n in (*schema.names, *ORIGIN_FIELDS) if n != "origin"}
    held = None  # the latest record's (offset, outcome), settled once we know the record is whole
    position = {"index": 0}  # records seen, and where the latest started
    size, start, max_doc = 0, 0, params.max_doc_bytes
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
        while True:  # once, or again from the next record start after damage
            f.seek(start)
            position["last"], error = None, None
            try:
                records = ArchiveIterator(f, parse_http=True)
                for outcome in _outcomes(records, WarcRecordType, path, source, max_doc, position, keep_headers):
                    if held is not None:
                        size += _settle(held, rows, stats, path)
                        if len(rows["id"]) >= params.batch_size or size >= params.batch_bytes:
                            yield _flush(rows, schema)
                            size = 0
                    held = outcome
            except (OSError, ValueError) as err:  # fastwarc raises at damage it cannot read past
                error = f"stopped reading: {err}"
            last = position["last"]
            damage = _damage_after(f, last, start)
            if damage is None and error:  # fastwarc raised where the bytes look whole
                damage = (last, error, True)
            if damage is None:
                break
            at, what, whole = damage
            if not whole and held is not None and held[0] == last:
                held = None  # the damaged record is counted as the damage, not as what it seemed
            resume = _next_record(f, at, compressed)
            if resume is None:
                stats.problem("corrupt_file", f"{path}@{at}", what)
                break
            stats.problem("corrupt_record", f"{path}@{at}", f"{what}; read on from {resume}")
            start = resume
    if held is not None:
        _settle(held, rows, stats, path)
    if rows["id"]:
        yield _flush(rows, schema)


def _settle(record: tuple[int, dict | str | tuple[str, str]], rows: dict[str, list], stats: ReadStats,
            path: str) -> int:
    """Adds a document to the batch's rows, or counts why the record is none; returns the size of its
    HTML (of its text for a WET record)."""
    offset, outcome = record
    if isinstance(outcome, str):
        stats.skip(outcome)
    elif isinstance(outcome, tuple):
        stats.problem(outcome[0], f"{path}@{offset}", outcome[1])
    else:
        for name, value in outcome.items():
            rows[name].append(value)
        return len(outcome["html"] or outcome["text"])
    return 0


def _outcomes(records, types, path: str, source: str, max_doc: int, position: dict,
              keep_headers: tuple[str, ...] = ()) -> Iterator[tuple]:
    """Each record's offset and what it comes to: a document (a row of SCHEMA), the reason it is no
    document (`request_record`, `http_404`, ...), or damage to log: (kind, detail)."""
    for record in records:
        index, offset = position["index"], record.stream_pos
        position["index"], position["last"] = index + 1, offset
        kind = record.record_type
        if kind == types.response:
            status = _status(record.http_headers)
            content_type = (record.http_content_type or "").lower()
            if status != 200:
                yield offset, f"http_{status}" if status else "not_http"
                continue
            if content_type not in HTML_TYPES:
                yield offset, "not_html"
                continue
        elif kind != types.conversion:  # a WET conversion record holds text already extracted
            yield offset, f"{kind}_record"
            continue
        if record.content_length > max_doc:  # checked before the body is read
            yield offset, ("doc_too_large", f"{record.content_length} bytes")
            continue
        body = record.reader.read()  # at most content_length bytes, however far the gzip member inflates
        if kind == types.response:
            html, text = _decoded(body, record.http_headers, max_doc), ""
            content_type = record.http_headers.get("Content-Type", content_type)
            if html is None:
                yield offset, ("doc_too_large", f"its {len(body)} bytes inflate past {max_doc} bytes")
                continue
        else:
            html, content_type = None, record.headers.get("Content-Type", "text/plain")
            text = body.decode("utf-8", errors="replace")
        if not (html or text.strip()):
            yield offset, "empty_body"
            continue
        row = {"id": doc_id("warc", record.record_id), "text": text, "source": source,
               "url": _target_uri(record.headers.get("WARC-Target-URI")), "html": html,
               "content_type": content_type, "file": path, "row": index, "offset": offset,
               "record_id": record.record_id, "date": record.headers.get("WARC-Date")}
        if keep_headers:
            row["http_headers"] = _kept_headers(record.http_headers if kind == types.response else None, keep_headers)
        yield offset, row


def _kept_headers(headers, names: tuple[str, ...]) -> str | None:
    """The named HTTP headers as `name: value` lines (names lowercased, in the record's order), or None."""
    if headers is None:
        return None
    kept = [f"{k.lower()}: {' '.join(v.split())}" for k, v in headers if k.lower() in names]
    return "\n".join(kept) or None


def _target_uri(value: str | None) -> str | None:
    """WARC-Target-URI without the angle brackets wget writes round it (`<https://...>`) or spaces."""
    value = value.strip() if value else value
    return value[1:-1].strip() if value and value[0] == "<" and value[-1] == ">" else value


def _decoded(body: bytes, headers, max_doc: int) -> bytes | None:
    """The body without the transfer and content encoding the headers name, where it really has them;
    None where it would inflate past `max_doc` bytes."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        body = _dechunk(body)
    encoding = (headers.get("Content-Encoding") or "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate") and body[:2] in GZIP_OR_ZLIB:
        inflater = zlib.decompressobj(47)  # gzip or zlib header, detected
        try:
            inflated = inflater.decompress(body, max_doc)
        except zlib.error:
            return body  # left as stored; extraction will find no text in it
        return None if inflater.unconsumed_tail else inflated
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


def _flush(rows: dict[str, list], schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    columns = {**rows, "origin": origin(*(rows[f] for f in ORIGIN_FIELDS))}
    batch = pa.RecordBatch.from_pydict({n: columns[n] for n in schema.names}, schema=schema)
    for v in rows.values():
        v.clear()
    return batch


def _damage_after(f, last: int | None, start: int) -> tuple[int, str, bool] | None:
    """Where the file stops being the records fastwarc gave, reading from `start`; None where it ends
    cleanly after the last (at `last`). (offset, what, whether that last record is whole): whole where
    its Content-Length ends it (the block followed by a blank line, in a gzip file by the end of its
    member); damage after a whole record starts after it. Read a piece at a time."""
    if last is None:
        return (start, "no readable WARC record", True) if os.fstat(f.fileno()).st_size > start else None
    f.seek(last)
    compressed = f.read(2) == b"\x1f\x8b"
    f.seek(last)
    try:
        return _member_damage(f, last) if compressed else _plain_damage(f, last)
    except zlib.error as err:
        return last, f"corrupt gzip member: {err}", False
    except EOFError:
        return last, "truncated gzip member", False


def _plain_damage(f, last: int) -> tuple[int, str, bool] | None:
    """As `_damage_after`, for an uncompressed file."""
    end = _block_end(f.read(PIECE))
    if end is None:
        return last, "record header without Content-Length", False
    short = last + end - os.fstat(f.fileno()).st_size
    if short > 0:
        return last, f"record truncated: the file ends {short} bytes short", False
    f.seek(last + end)
    rest = f.read(PIECE)
    if rest[:4] != b"\r\n\r\n" and rest.strip():
        return last, "the record does not end where its Content-Length says", False
    return (last + end, "unreadable data after the last record", True) if rest[4:].strip() else None


def _member_damage(f, last: int) -> tuple[int, str, bool] | None:
    """As `_damage_after`, for a record that is one gzip member (as WARC files are written)."""
    pieces = _inflated(f)
    head = next(pieces, b"")
    end = _block_end(head)
    if end is None:
        return last, "record header without Content-Length", False
    length, rest = len(head), head[end:].strip()  # rest: what the member holds after the record's blank line
    for piece in pieces:  # inflated only while it can still be the record
        if rest:
            break
        rest = piece[max(0, end - length):].strip()
        length += len(piece)
    if length < end:
        return last, f"record truncated: the member ends {end - length} bytes short", False
    if rest:
        return last, "the gzip member holds more than its record", False
    after = f.tell()
    return (after, "unreadable data after the last record", True) if f.read(PIECE).strip(b"\0") else None


def _block_end(head: bytes) -> int | None:
    """Where a record whose first bytes are `head` ends by its Content-Length (before its blank line)."""
    header_end = head.find(b"\r\n\r\n")
    found = CONTENT_LENGTH.search(head[: header_end + 2]) if header_end >= 0 else None
    return header_end + 4 + int(found.group(1)) if found else None


def _inflated(f) -> Iterator[bytes]:
    """The gzip member at f's position, inflated a piece at a time; f is left just after it."""
    inflater = zlib.decompressobj(31)
    while not inflater.eof:
        data = inflater.unconsumed_tail or f.read(PIECE)
        if not data:
            raise EOFError
        yield inflater.decompress(data, PIECE)
    f.seek(-len(inflater.unused_data), os.SEEK_CUR)


def _next_record(f, after: int, compressed: bool) -> int | None:
    """The offset of the first record start after `after`: a `WARC/1.0` or `WARC/1.1` line, or in a gzip
    file a member that inflates to one. Searched a piece at a time, only where damage was found."""
    pos = after + 1 if compressed else after  # RECORD_LINE matches from the newline before the record
    while True:
        f.seek(pos)
        window = f.read(PIECE + 4096)  # a match starting in the first PIECE bytes is whole in the window
        for found in (GZIP_MEMBER if compressed else RECORD_LINE).finditer(window):
            at = found.start()
            if at >= PIECE:
                break
            if not compressed:
                return pos + at + 1
            if _inflates_to_record(window[at:at + 4096]):
                return pos + at
        if len(window) <= PIECE:
            return None
        pos += PIECE


def _inflates_to_record(data: bytes) -> bool:
    try:
        return zlib.decompressobj(31).decompress(data, 10) in RECORD_STARTS
    except zlib.error:
        return False
