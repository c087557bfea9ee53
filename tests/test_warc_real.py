"""The `warc` reader on WARC files other tools wrote: the committed sample of archived search result
pages (data/sample/warc-real, from archive-query-log 1.2.26, MIT; status lines read `HTTP/1.1 HTTP/1.1
200 OK`) through extract.html and filter.language, and Warcat 2.2.5's example/ edge cases (GPL-3.0,
so fetched from PyPI at set-up and not committed). Every record is accounted for: documents plus
skips by reason equal the records warcio counts."""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.cli import main
from tests.conftest import SAMPLE
from tests.test_warc import WARC, read_warc, rows

REAL = SAMPLE / "warc-real"
LANGUAGE = {"baidu": "zh", "sogou": "zh", "chefkoch": "de", "vk": "ru", "naver": "ko", "qwant-lombocruralgie": "fr",
            "youtube": "ja", "stackoverflow": "en", "google": "en", "ecosia": "en"}


def warcio_records(path: Path) -> Counter:
    with open(path, "rb") as f:
        return Counter(r.rec_type for r in ArchiveIterator(f))


def test_real_warcs_through_extraction_and_language_id(tmp_path):
    files = sorted(REAL.glob("*.warc.gz"))
    assert len(files) == 11
    config = {"name": "real", "input": {"reader": "warc", "paths": [f"{REAL}/*.warc.gz"], "source": "web/aql"},
              "steps": [{"extract.html": {}}, {"filter.language": {}}],
              "output": {"path": str(tmp_path / "out")}, "executor": {"kind": "local", "workers": 2}}
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path)]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    records = sum((warcio_records(f) for f in files), Counter())
    assert records == {"request": 11, "response": 11}
    read = manifest["read"]
    assert read["docs"] == 11 and read["skipped"] == {"request_record": 11}  # no status line read as not HTTP
    assert read["docs"] + sum(read["skipped"].values()) == sum(records.values())
    extract, language = manifest["steps"]
    assert extract["removed"] == {"no_main_text": 1}  # the Qwant page whose results were never archived
    assert language["removed"] == {} and manifest["output"]["docs"] == 10
    assert read["docs"] == manifest["output"]["docs"] + sum(sum(s["removed"].values()) for s in manifest["steps"])

    docs = [r for s in manifest["output"]["shards"] for r in pq.read_table(tmp_path / "out" / s["name"]).to_pylist()]
    assert len(docs) == 10 and all(d["text"].strip() for d in docs) and sum(len(d["text"]) for d in docs) > 15_000
    found = {}
    for d in docs:
        name = Path(d["origin"]["file"]).name
        found[next(k for k in LANGUAGE if name.startswith(k))] = d["lang"]
        assert d["url"].startswith("https://web.archive.org/web/") and d["origin"]["record_id"].startswith("<urn:")
    assert found == LANGUAGE  # seven languages, each where it belongs


@pytest.fixture(scope="module")
def warcat(request) -> Path:
    """Warcat 2.2.5's example/ folder, from its PyPI sdist (cached between runs)."""
    cache = Path(request.config.cache.mkdir("warcat-2.2.5"))
    sdist = cache / "Warcat-2.2.5.tar.gz"
    if not sdist.exists():
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                              "Warcat==2.2.5", "-d", str(cache)], capture_output=True, text=True, timeout=120)
        if got.returncode or not sdist.exists():
            pytest.skip(f"Warcat 2.2.5 sdist not reachable with pip: {got.stderr.strip()[-300:]}")
    folder = cache / "example"
    folder.mkdir(exist_ok=True)
    with tarfile.open(sdist) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith("Warcat-2.2.5/example/"):
                (folder / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    return folder


def test_warcat_edge_cases_are_counted_not_crashing(warcat, tmp_path, caplog):
    files = sorted(warcat.glob("*.warc*"))
    assert {f.name for f in files} >= {"at.warc", "at.warc.gz", "bad_http_chunked_content.warc", "c1_warcinfo.warc",
                                       "long_url.warc", "not_utf8_http_header.warc"}
    for f in files:
        batches, stats = read_warc(f)
        docs = rows(batches)
        assert len(docs) + sum(stats.skipped.values()) == sum(warcio_records(f).values()), f.name
        assert "corrupt_file" not in stats.skipped, f.name
    # a response without Content-Type (bad chunking, a 1 KB URL, a non-UTF-8 header byte) is no HTML page
    for name in ("bad_http_chunked_content.warc", "long_url.warc", "not_utf8_http_header.warc"):
        assert read_warc(warcat / name)[1].skipped == {"not_html": 1}
    assert read_warc(warcat / "c1_warcinfo.warc")[1].skipped == {"warcinfo_record": 1}  # WARC/0.18
    plain, gz = (rows(read_warc(warcat / n)[0]) for n in ("at.warc", "at.warc.gz"))  # two captures of one site
    assert [d["url"] for d in plain] == [d["url"] for d in gz] == ["http://www.archiveteam.org/index.php?title=Main_Page"]
    for d in plain + gz:  # wget stored the body chunked (`5db1\r\n<!DOCTYPE html>...`): joined here
        assert d["html"].startswith(b"<!DOCTYPE html>") and d["html"].rstrip().endswith(b"</html>")
        assert not re.search(rb"\r\n[0-9a-f]{1,6}\r\n", d["html"])
    assert read_warc(warcat / "at.warc")[1].skipped == {"warcinfo_record": 1, "request_record": 2, "http_301": 1,
                                                        "resource_record": 3}
    # the archiveteam capture cut inside its 200 response: what precedes is kept, the damage logged
    raw = (warcat / "at.warc").read_bytes()
    cut = tmp_path / "at-cut.warc"
    cut.write_bytes(raw[: raw.index(b"<html") + 500])
    with caplog.at_level(logging.WARNING, logger="gristmill"):
        batches, stats = read_warc(cut)
    assert rows(batches) == [] and stats.skipped["corrupt_file"] == 1
    assert stats.skipped["http_301"] == 1 and f"{cut}@" in caplog.text


def test_bodies_are_decoded_where_they_really_are_encoded(tmp_path):
    page = rows(read_warc(WARC)[0])[5]["html"]  # a real page, 40 KB
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(page[i:i + 4096]), page[i:i + 4096]) for i in range(0, len(page), 4096))
    cases = {  # URL -> (body as stored, its headers)
        "chunked": (chunked + b"0\r\n\r\n", [("Transfer-Encoding", "chunked")]),
        "gzip": (gzip.compress(page), [("Content-Encoding", "gzip")]),
        "gzip-chunked": (b"%x\r\n%s\r\n0\r\n\r\n" % (len(gzip.compress(page)), gzip.compress(page)),
                         [("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]),
        "stored-decoded": (page, [("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]),  # as in the AQL
        "chunked-cut": (chunked[: len(chunked) // 2], [("Transfer-Encoding", "chunked")]),
    }
    path = tmp_path / "encoded.warc.gz"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, (body, headers) in cases.items():
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), *headers], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"http://enc.test/{url}", "response",
                                                          payload=io.BytesIO(body), http_headers=http))
    got = {d["url"].rsplit("/", 1)[1]: d["html"] for d in rows(read_warc(path)[0])}
    assert got["chunked"] == got["gzip"] == got["gzip-chunked"] == got["stored-decoded"] == page
    cut = got["chunked-cut"]
    assert page.startswith(cut[:-100]) and len(cut) > len(page) // 3 and b"\r\n1000\r\n" not in cut
