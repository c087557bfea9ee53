"""tests/warc_records.py's check that fastwarc and warcio read the same records (the check
benchmarks/warc_readers.py runs before timing them), on the bundled real WARC (gzip and uncompressed): it
agrees where the files are sound and catches a changed payload byte."""

from __future__ import annotations

import gzip

import pytest

from tests.test_warc import WARC
from tests.warc_records import READERS, check_same_records, payload_digests, timed


@pytest.fixture
def plain(tmp_path):
    path = tmp_path / "plain.warc"
    path.write_bytes(gzip.decompress(WARC.read_bytes()))
    return path


def test_both_readers_give_the_same_responses(plain):
    assert check_same_records([WARC, plain]) == 2 * 122  # 120 HTML pages, a text/plain page and a 404
    digests = payload_digests(WARC)
    assert len(digests) == 122 and all(d.startswith("sha1:") for d in digests.values())  # the check has teeth
    for read in READERS.values():
        seconds, records, payload = timed(read, [plain], repeat=1)
        assert records == 122 and payload > 3_000_000 and seconds > 0


def test_a_changed_payload_byte_is_caught(plain):
    raw = plain.read_bytes()
    at = raw.index(b"<!DOCTYPE") + 300  # inside the first HTML body (771 bytes); the length stays the same
    plain.write_bytes(raw[:at] + bytes([raw[at] ^ 0x20]) + raw[at + 1:])
    with pytest.raises(AssertionError, match="does not match its WARC-Payload-Digest"):
        check_same_records([plain])
