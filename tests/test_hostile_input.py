"""Readers under hostile input: documents that inflate past any memory (read in a child process whose
address space is capped, so a reader that holds one whole fails there), symlink loops under a `**`
glob, WARC records whose Content-Length lies, a Parquet file with a corrupt page, and wget's
`<https://...>` target URIs. Text is real (the bundled sample and WARC); only the bombs are generated."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.engine.reader import list_files
from curate.filters.url import UrlFilter, UrlParams
from tests.conftest import ROOT
from tests.test_readers import jsonl_bytes, read_all, real_docs
from tests.test_warc import WARC, read_warc, rows

CAP = 3 << 29  # 1.5 GiB of address space for the reading child
CAPPED_READ = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from curate.engine.reader import ReadStats, make_reader
stats = ReadStats()
batches = make_reader(json.loads(sys.argv[2]), "src").batches(sys.argv[3], stats)
ids = [i for b in batches for i in b.column("id").to_pylist()]
print(json.dumps({"ids": ids, "skipped": stats.skipped, "places": stats.places}))
"""


def read_capped(path, **config) -> dict:
    """What the reader gives for `path` in a child whose address space is capped at CAP."""
    done = subprocess.run([sys.executable, "-c", CAPPED_READ, str(CAP), json.dumps({"paths": [str(path)], **config}),
                           str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def gzip_bomb(head: bytes, size: int, tail: bytes) -> bytes:
    """One gzip member holding `head`, `size` bytes of b"a" and `tail`, built without compressing them
    all: after a full flush, deflate writes the same bytes for the same MiB every time."""
    mib = b"a" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.compress(tail) + deflate.flush()
    crc = zlib.crc32(head)
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(tail, crc)
    total = len(head) + size + len(tail)
    return gzip.compress(b"")[:10] + start + block * (size >> 20) + end + struct.pack("<II", crc, total & 0xFFFFFFFF)


def warc_records(n: int) -> list[bytes]:
    """The bundled real WARC's first `n` records, uncompressed (response, request, response, ...)."""
    plain = gzip.decompress(WARC.read_bytes())
    starts = [m.start() for m in re.finditer(rb"WARC/1\.0\r\n", plain)][: n + 1]
    return [plain[a:b] for a, b in zip(starts, starts[1:])]


def with_length(record: bytes, change: int) -> bytes:
    """`record` with its Content-Length header `change` bytes off."""
    found = re.search(rb"Content-Length: (\d+)", record)
    return record[:found.start(1)] + b"%d" % (int(found.group(1)) + change) + record[found.end(1):]


def write_warc(path, records: list[bytes]) -> list[int]:
    """Writes `records` (one gzip member each for a .gz path); returns their offsets."""
    parts = [gzip.compress(r) for r in records] if str(path).endswith(".gz") else records
    path.write_bytes(b"".join(parts))
    return [sum(len(p) for p in parts[:i]) for i in range(len(parts))]


def test_a_jsonl_line_that_inflates_to_a_gib_is_skipped_in_bounded_memory(tmp_path):
    docs = real_docs(20)
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip_bomb(jsonl_bytes(docs[:10]) + b'{"text": "', 1 << 30, b'"}\n' + jsonl_bytes(docs[10:])))
    got = read_capped(path, reader="jsonl")  # the default input.max_doc_mb: 16
    assert len(got["ids"]) == 20 and got["skipped"] == {"doc_too_large": 1}
    assert got["places"] == {"doc_too_large": [f"{path}:11"]}


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_a_jsonl_document_over_max_doc_mb_is_counted_and_the_rest_read(tmp_path, suffix):
    import zstandard

    docs = real_docs(12)
    big = jsonl_bytes([{"text": "\n\n".join(d["text"] for d in real_docs(200)) * 12}])  # real text on one line
    assert len(big) > 2 << 20  # skipped past a MiB at a time
    lines = jsonl_bytes(docs[:5]) + big + jsonl_bytes(docs[5:])
    path = tmp_path / f"docs.jsonl{suffix}"
    path.write_bytes({"": lines, ".gz": gzip.compress(lines), ".zst": zstandard.compress(lines)}[suffix])
    table, stats = read_all(path, reader="jsonl", max_doc_mb=1)
    assert stats.skipped == {"doc_too_large": 1} and stats.places == {"doc_too_large": [f"{path}:6"]}
    origin = table.column("origin").to_pylist()  # lines and offsets still point at the documents' bytes
    assert [o["row"] for o in origin] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert all(lines[o["offset"]:].startswith(jsonl_bytes([d])) for o, d in zip(origin, docs))
    assert table.column("text").to_pylist() == [d["text"] for d in docs]


def test_a_parquet_text_over_max_doc_mb_is_counted_and_dropped(tmp_path):
    texts = [d["text"] for d in real_docs(30)]
    texts[7] = "\n\n".join(texts) * 40  # real text, over 1 MiB in one value
    assert len(texts[7].encode()) > 1 << 20
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    table, stats = read_all(path, reader="parquet", max_doc_mb=1)
    assert stats.skipped == {"doc_too_large": 1} and stats.places == {"doc_too_large": [f"{path}:7"]}
    assert [o["row"] for o in table.column("origin").to_pylist()] == [*range(7), *range(8, 30)]
    assert table.column("text").to_pylist() == texts[:7] + texts[8:]


@pytest.mark.parametrize("lying", [False, True])
def test_a_warc_record_whose_gzip_member_inflates_to_2_gib_costs_only_itself(tmp_path, lying):
    """Its Content-Length says 2 GiB (over max_doc_mb: skipped unread), or lies with 1 KB (the member
    holds more than the record: a corrupt_record, read on from the next member)."""
    records = warc_records(6)
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    size = 2 << 30
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:bomb>\r\nWARC-Target-URI: http://bomb.test/\r\n"
            b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n"
            % (len(http) + (1000 if lying else size)))
    members = [gzip.compress(r) for r in records]
    bomb = gzip_bomb(head + http, size, b"\r\n\r\n")
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(b"".join(members[:2]) + bomb + b"".join(members[2:]))
    got = read_capped(path, reader="warc")
    assert got["ids"] == [d["id"] for d in rows(read_warc(WARC)[0])[:3]]  # every real page
    kind = "corrupt_record" if lying else "doc_too_large"
    assert got["skipped"] == {"request_record": 3, kind: 1}
    assert got["places"] == {kind: [f"{path}@{len(members[0]) + len(members[1])}"]}


def test_symlink_loops_under_a_glob_list_each_file_once(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    raw = jsonl_bytes(real_docs(3))
    for name in ("a.jsonl.gz", "b.jsonl.gz", "sub/c.jsonl.gz"):
        (folder / name).write_bytes(gzip.compress(raw))
    os.symlink(".", folder / "loop")  # one loop: glob's ** went round it 40 times
    os.symlink("..", folder / "sub" / "up")  # two: glob's ** never finished
    os.symlink("b.jsonl.gz", folder / "z.jsonl.gz")  # a second name for a file
    script = ("import json, sys; from curate.engine.reader import list_files; "
              "print(json.dumps([list_files([p]) for p in sys.argv[1:]]))")
    patterns = [f"{folder}/**/*.jsonl.gz", f"{folder}/**", str(folder), f"{folder}/*.jsonl.gz"]
    done = subprocess.run([sys.executable, "-c", script, *patterns], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    files = [f"{folder}/{n}" for n in ("a.jsonl.gz", "b.jsonl.gz", "sub/c.jsonl.gz")]
    assert json.loads(done.stdout) == [files, files, files, files[:2]]
    assert list_files([str(folder / "z.jsonl.gz"), f"{folder}/*.gz"]) == [f"{folder}/z.jsonl.gz", files[0]]


@pytest.mark.parametrize("suffix", [".warc", ".warc.gz"])
@pytest.mark.parametrize("change", [-300, 300])
def test_a_wrong_content_length_costs_only_its_record(tmp_path, suffix, change):
    records = warc_records(6)
    clean = tmp_path / f"clean{suffix}"
    write_warc(clean, records)
    path = tmp_path / f"wrong{suffix}"
    offsets = write_warc(path, records[:2] + [with_length(records[2], change)] + records[3:])
    with open(clean, "rb") as f:
        assert sum(1 for _ in ArchiveIterator(f)) == 6
    whole = rows(read_warc(clean)[0])
    batches, stats = read_warc(path)
    docs = rows(batches)
    assert [d["id"] for d in docs] == [whole[0]["id"], whole[2]["id"]]  # all but the damaged page
    assert [d["html"] for d in docs] == [whole[0]["html"], whole[2]["html"]]
    assert stats.skipped == {"request_record": 3, "corrupt_record": 1}  # every record counted once
    assert stats.places == {"corrupt_record": [f"{path}@{offsets[2]}"]}


def test_wget_target_uris_lose_their_angle_brackets(tmp_path):
    page = rows(read_warc(WARC)[0])[5]["html"]
    path = tmp_path / "wget.warc.gz"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url in ("<https://spam.test/page>", " <https://ok.test/page> ", "https://ok.test/plain"):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(page),
                                                          http_headers=http))
    batch = pa.Table.from_batches(read_warc(path)[0]).combine_chunks().to_batches()[0]
    assert batch.column("url").to_pylist() == ["https://spam.test/page", "https://ok.test/page",
                                               "https://ok.test/plain"]
    step = UrlFilter(UrlParams(domains=["spam.test"]))
    step.setup()
    assert step.keep(batch).keep.tolist() == [False, True, True]


def test_a_parquet_row_group_with_a_corrupt_page_is_skipped_and_counted(tmp_path):
    texts = [d["text"] for d in real_docs(300)]
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=50, compression="snappy", use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(2).column(0)
    raw = bytearray(path.read_bytes())
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    raw[middle:middle + 64] = bytes(b ^ 0xFF for b in raw[middle:middle + 64])
    path.write_bytes(raw)
    table, stats = read_all(path, reader="parquet")  # used to end the run with no file named
    assert stats.skipped == {"corrupt_row_group": 1}
    assert stats.places == {"corrupt_row_group": [f"{path} row group 2"]}
    assert [o["row"] for o in table.column("origin").to_pylist()] == [*range(100), *range(150, 300)]
    assert table.column("text").to_pylist() == texts[:100] + texts[150:]
