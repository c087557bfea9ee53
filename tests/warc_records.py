"""Reading a WARC file's HTTP `response` records with fastwarc (what the `warc` reader uses) and with
warcio, and checking that both give the same records: used by the tests on the bundled WARC and by
benchmarks/warc_readers.py, which times the two readers on the records this check has passed."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

Record = tuple[str, bytes]  # (WARC-Record-ID, payload)


def fastwarc_responses(path: Path) -> Iterator[Record]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for record in ArchiveIterator(str(path), record_types=WarcRecordType.response, parse_http=True):
        yield record.record_id, record.reader.read()


def warcio_responses(path: Path) -> Iterator[Record]:
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "response":
                yield record.rec_headers.get_header("WARC-Record-ID"), record.raw_stream.read()


READERS: dict[str, Callable[[Path], Iterator[Record]]] = {"fastwarc": fastwarc_responses, "warcio": warcio_responses}


def payload_digests(path: Path) -> dict[str, str]:
    """WARC-Record-ID -> WARC-Payload-Digest of each response record, as the capture wrote it."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as f:
        return {r.rec_headers.get_header("WARC-Record-ID"): r.rec_headers.get_header("WARC-Payload-Digest")
                for r in ArchiveIterator(f) if r.rec_type == "response"}


def sha1_b32(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode()


def check_same_records(paths: list[Path]) -> int:
    """Both readers give the same responses with the same payloads, equal to the recorded digests.
    Returns the number of response records; raises AssertionError naming the first difference."""
    total = 0
    for path in paths:
        seen = {name: [(rid, sha1_b32(body)) for rid, body in read(path)] for name, read in READERS.items()}
        fast, slow = seen["fastwarc"], seen["warcio"]
        if len(fast) != len(slow):
            raise AssertionError(f"{path}: fastwarc read {len(fast)} responses, warcio {len(slow)}")
        for (rid_a, sha_a), (rid_b, sha_b) in zip(fast, slow):
            if rid_a != rid_b or sha_a != sha_b:
                raise AssertionError(f"{path}: fastwarc {rid_a} {sha_a} != warcio {rid_b} {sha_b}")
        recorded = payload_digests(path)
        wrong = [rid for rid, sha in fast if recorded.get(rid) not in (None, sha)]
        if wrong:
            raise AssertionError(f"{path}: payload of {wrong[0]} does not match its WARC-Payload-Digest")
        total += len(fast)
    return total


def timed(read: Callable[[Path], Iterator[Record]], paths: list[Path], repeat: int) -> tuple[float, int, int]:
    """(best seconds over `repeat` passes, records, payload bytes) of reading every file."""
    best, records, payload = float("inf"), 0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        records = payload = 0
        for path in paths:
            for _, body in read(path):
                records += 1
                payload += len(body)
        best = min(best, time.perf_counter() - t0)
    return best, records, payload
