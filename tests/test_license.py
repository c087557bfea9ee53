"""provenance.license / provenance.optout: each evidence kind on real pages and code, bad input, and
both steps from YAML on a WARC of real pages with real HTTP headers."""

from __future__ import annotations

import gzip
import html as html_lib
import io
import json
import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.evidence import in_code, in_text, license_from_name, license_from_url
from provenance.license import LicenseParams, LicenseStep, document_evidence
from provenance.optout import OptOut, OptOutParams, header_signals, html_signals

DATA = Path(__file__).parent / "data"
EXCERPTS = [json.loads(line) for line in (DATA / "license_excerpts.jsonl").read_text().splitlines()]
SITE = Path(sysconfig.get_paths()["purelib"])
SAMPLE = Path(__file__).parent.parent / "data" / "sample"
PYDOCS = Path("/usr/share/doc/python3.11/html")


def tag(html: bytes | None = None, text: str | None = None, **columns) -> dict:
    n = 1
    data = {"id": ["d"], "source": ["web"], "url": ["http://a.test/x"], "text": [text or ""],
            "html": pa.array([html], pa.large_binary()), **{k: [v] for k, v in columns.items()}}
    out = LicenseStep(LicenseParams()).process(pa.RecordBatch.from_pydict(data))
    assert out.num_rows == n
    return out.to_pylist()[0]


@pytest.mark.parametrize("excerpt", EXCERPTS, ids=[e["kind"] + ":" + e["source"].rsplit("/", 1)[-1] for e in EXCERPTS])
def test_real_page_excerpts(excerpt):
    """Real pages (trafilatura's evaluation set): each evidence kind gives the page's licence; a CC
    link in a photo credit is named as evidence but leaves the page `unknown`."""
    row = tag(excerpt["html"].encode())
    assert row["license"] == excerpt["license"]
    assert row["license_evidence"].startswith(excerpt["kind"] + ":")
    if excerpt["license"] == "unknown":
        assert row["license_confidence"] is None and "below min_confidence" in row["license_evidence"]
    else:
        assert row["license_confidence"] >= 0.8


def test_urls_and_names_to_spdx():
    assert license_from_url("https://creativecommons.org/licenses/by-nc-sa/3.0/de/deed.de") == "CC-BY-NC-SA-3.0-DE"
    assert license_from_url("http://creativecommons.org/licenses/by-nc-nd/2.0/de/") == "CC-BY-NC-ND-2.0"  # no SPDX port
    assert license_from_url("//creativecommons.org/publicdomain/zero/1.0/") == "CC0-1.0"
    assert license_from_url("https://licensebuttons.net/l/by-sa/4.0/88x31.png") == "CC-BY-SA-4.0"
    assert license_from_url("https://www.gnu.org/licenses/fdl-1.3.html") == "GFDL-1.3-or-later"
    assert license_from_url("https://www.apache.org/licenses/LICENSE-2.0") == "Apache-2.0"
    assert license_from_url("https://opensource.org/licenses/MIT") == "MIT"
    assert license_from_url("https://example.com/impressum") is None
    assert license_from_name("Creative Commons Namensnennung - Weitergabe unter gleichen Bedingungen 4.0") == "CC-BY-SA-4.0"
    assert license_from_name("CC BY-NC-ND 4.0") == "CC-BY-NC-ND-4.0"
    assert license_from_name("the Python Software Foundation License Version 2") == "PSF-2.0"
    assert license_from_name("a nice day") is None


def test_meta_json_ld_link_header_and_pdf_columns():
    head = (b'<html><head><meta name="dcterms.license" content="https://creativecommons.org/licenses/by/4.0/">'
            b'</head><body><p>x</p></body></html>')
    assert tag(head)["license_evidence"].startswith("meta:")
    ld = (b'<script type="application/ld+json">{"@type":"Article","license":'
          b'"https:\\/\\/creativecommons.org\\/licenses\\/by-sa\\/4.0\\/"}</script><p>x</p>')
    assert tag(ld)["license"] == "CC-BY-SA-4.0"
    bundled = b'<script>var meta = {"license": "MIT"};</script><p>a script\'s own licence</p>'
    assert tag(bundled)["license"] == "unknown"
    row = tag(b"<p>no licence in the page</p>",
              http_headers='link: <https://creativecommons.org/licenses/by-nd/4.0/>; rel="license"')
    assert (row["license"], row["license_evidence"][:11]) == ("CC-BY-ND-4.0", "link_header")
    row = tag(None, "a PDF's text", license_url="http://creativecommons.org/licenses/by/3.0/", rights=None)
    assert (row["license"], row["license_evidence"][:12]) == ("CC-BY-3.0", "pdf_metadata")
    row = tag(None, "a PDF's text", license_url=None, rights="This work is licensed under CC BY-SA 4.0")
    assert row["license"] == "CC-BY-SA-4.0"


def test_code_spdx_and_headers_from_installed_packages():
    """Real code: SPDX tags in pyarrow's vendored headers, the Apache header in transformers."""
    pcg = SITE / "pyarrow/include/arrow/vendored/pcg/pcg_uint128.hpp"
    compat = SITE / "pyarrow/src/arrow/python/vendored/pythoncapi_compat.h"
    if pcg.is_file():
        assert tag(None, pcg.read_text())["license"] == "(Apache-2.0 OR MIT)"
    if compat.is_file():
        assert tag(None, compat.read_text())["license"] == "0BSD"
    import transformers.utils

    found = in_code(Path(transformers.utils.__file__).read_text())
    assert [(e.license, e.kind) for e in found] == [("Apache-2.0", "license_header")]
    gpl = "# This program is free software; you can redistribute it under the terms of the GNU General Public " \
          "License as published by the Free Software Foundation; either version 2 of the License, or (at your " \
          "option) any later version."
    assert in_code(gpl)[0].license == "GPL-2.0-or-later"


@pytest.mark.skipif(not (PYDOCS / "library/os.html").is_file(), reason="python3.11-doc not installed")
def test_python_docs_statement():
    row = tag((PYDOCS / "library/os.html").read_bytes())
    assert (row["license"], row["license_evidence"][:9]) == ("PSF-2.0", "statement")


def test_input_licence_is_the_fallback():
    assert tag(b"<p>nothing here</p>", license="cc-by-4.0")["license"] == "CC-BY-4.0"
    page = EXCERPTS[0]["html"].encode()
    assert tag(page, license="MIT")["license"] == EXCERPTS[0]["license"]  # the page's own evidence wins
    row = tag(b"<p>x</p>", license="Our Own Terms v2")
    assert row["license"] == "LicenseRef-Our-Own-Terms-v2"
    out = LicenseStep(LicenseParams(input_wins=True)).process(pa.RecordBatch.from_pydict(
        {"source": ["s"], "text": [""], "html": pa.array([page], pa.large_binary()), "license": ["MIT"]}))
    assert out.column("license").to_pylist() == ["MIT"]


def test_bad_input():
    """Empty, null, non-UTF-8, truncated markup and a huge attribute-less page: no crash, `unknown`."""
    for html in (b"", None, b"\xff\xfe<\x00m\x00e\x00t\x00a", b"<a rel=\"license\" href=\"http://creativecommons.org/lic",
                 b"<" * 200_000, b"licensed under " * 20_000, "<p>café licensed under nothing</p>".encode("latin-1")):
        assert tag(html)["license"] == "unknown"
    assert tag(None, None)["license"] == "unknown"
    assert document_evidence(None, None) == []
    assert in_text("SPDX-License-Identifier: NOT-A-LICENCE\n") == []


def test_optout_signals():
    page = b'<head><meta name="robots" content="noindex, noai, noimageai"><meta name="tdm-reservation" content="1">' \
           b'<meta name="tdm-policy" content="https://a.test/policy.json"></head>'
    assert html_signals(page, {b"robots"}) == ["robots_meta=noai,noimageai", "tdm_meta=1 policy=https://a.test/policy.json"]
    assert html_signals(b'<meta name="tdm-reservation" content="0">', {b"robots"}) == []
    assert header_signals("x-robots-tag: googlebot: noai\ntdm-reservation: 1") == ["x_robots_tag=noai", "tdm_header=1"]
    assert header_signals("x-robots-tag: noindex") == []
    batch = pa.RecordBatch.from_pydict({"url": ["http://a.test/1", "http://a.test/2"],
                                        "html": pa.array([page, b"<p>x</p>"], pa.large_binary()),
                                        "http_headers": [None, None]})
    step = OptOut(OptOutParams(drop=True))
    step.setup()
    result = step.keep(batch)
    assert result.keep.tolist() == [False, True] and result.reasons[0] == "tdm_opt_out"
    with pytest.raises(ValueError, match="input.http_headers"):
        step.keep(batch.drop_columns(["http_headers"]))


@pytest.fixture(scope="module")
def real_warc(tmp_path_factory):
    """Real pages (the excerpts, each with two real news stories of data/sample/news-abc.jsonl.gz as its
    main text) as HTTP responses with X-Robots-Tag and TDM headers, and a robots.txt, written with
    warcio's WARCWriter (no server: capturing live HTTP depends on import order across the test run)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    news = [json.loads(line)["text"] for line in gzip.open(SAMPLE / "news-abc.jsonl.gz", "rt")]  # real ABC news
    pages = {"robots.txt": ("text/plain", "User-agent: GPTBot\nDisallow: /p1.html\n\nUser-agent: *\nDisallow: /p2.html\n")}
    for i, e in enumerate(EXCERPTS):
        body = "".join(f"<p>{html_lib.escape(par)}</p>" for par in news[2 * i:2 * i + 2])
        pages[f"p{i}.html"] = ("text/html; charset=utf-8", f"<html><body>{e['html']}{body}</body></html>")
    extra = {"p0.html": [("X-Robots-Tag", "noai")], "p3.html": [("TDM-Reservation", "1")]}
    warc = tmp_path_factory.mktemp("site") / "capture.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for name, (kind, text) in pages.items():
            payload = text.encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", kind), ("Content-Length", str(len(payload))),
                                                  *extra.get(name, [])], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"http://127.0.0.1:8000/{name}", "response",
                                                          payload=io.BytesIO(payload), http_headers=headers))
    return warc


def test_from_yaml_on_a_warc(real_warc, tmp_path):
    from pipelines.cli import main

    yaml = tmp_path / "p.yaml"
    yaml.write_text(f"""name: lic
input: {{reader: warc, paths: [{real_warc}], source: web/test, http_headers: [X-Robots-Tag, TDM-Reservation, Link]}}
steps:
  - provenance.optout: {{robots_txt: [{real_warc}]}}
  - provenance.license: {{}}
  - extract.html: {{}}
output: {{path: {tmp_path / 'out'}}}
executor: {{kind: local, workers: 1}}
""")
    assert main(["run", str(yaml)]) == 0
    table = pq.read_table(sorted((tmp_path / "out").glob("part-*.parquet"))[0])
    rows = {r["url"].rsplit("/", 1)[-1]: r for r in table.to_pylist()}
    assert len(rows) >= len(EXCERPTS) - 1  # one excerpt may have no main text once cut out of its page
    for i, e in enumerate(EXCERPTS):
        if f"p{i}.html" in rows:
            assert rows[f"p{i}.html"]["license"] == e["license"], e["source"]
    assert rows["p0.html"]["tdm_opt_out"] == "x_robots_tag=noai"
    assert rows["p1.html"]["tdm_opt_out"] == "robots_txt=GPTBot"
    assert rows["p2.html"]["tdm_opt_out"] is None  # User-agent: * is a crawl rule, not an AI opt-out
    assert rows["p3.html"]["tdm_opt_out"] == "tdm_header=1"
    assert "html" not in table.column_names and "license_confidence" in table.column_names
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert "licensed" in json.dumps(manifest)


def test_warc_reader_keeps_only_asked_headers(real_warc):
    from curate.engine.reader import ReadStats, make_reader

    plain = make_reader({"reader": "warc", "paths": [str(real_warc)]}, "x")
    assert "http_headers" not in plain.columns()
    assert all("http_headers" not in b.schema.names for b in plain.read(str(real_warc), ReadStats()))
    kept = make_reader({"reader": "warc", "paths": [str(real_warc)], "http_headers": ["X-Robots-Tag"]}, "x")
    values = [v for b in kept.read(str(real_warc), ReadStats()) for v in b.column("http_headers").to_pylist()]
    assert values.count("x-robots-tag: noai") == 1 and values.count(None) == len(values) - 1
    with pytest.raises(Exception, match="not HTTP header names"):
        make_reader({"reader": "warc", "paths": [str(real_warc)], "http_headers": ["bad header"]}, "x")


