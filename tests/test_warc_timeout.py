"""extract.html with trafilatura under a time limit: a page that runs past `timeout_s` is dropped as
`extract_timeout` and the next pages still extract, directly and inside the engine's worker processes.
The slow page is real HTML: the bodies of the bundled WARC's 120 Debian doc pages in one page
(~3.9 MB), which trafilatura needs ~16 s for on a 2-core machine."""

from __future__ import annotations

import functools
import io
import json
import os
import re
import time

import pyarrow as pa
import pytest
import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.engine.plan import load_plan
from curate.extract.html import ExtractHtml, HtmlParams, decode_html
from curate.extract.sandbox import CallCrashed, CallFailed, CallTimeout, Sandbox
from pipelines.cli import main
from provenance.yamlfile import ConfigError
from tests.test_warc import WARC, read_warc, rows

BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


@pytest.fixture(scope="module")
def pages() -> tuple[pa.RecordBatch, bytes]:
    """(the bundled WARC's first batch, one huge page made of all its pages' bodies)."""
    batches, _ = read_warc(WARC)
    docs = rows(batches)
    bodies = []
    for d in docs:
        html = decode_html(d["html"], d["content_type"])
        found = BODY.search(html)
        bodies.append(found.group(1) if found else html)
    return batches[0], ("<html><body>" + "\n".join(bodies) + "</body></html>").encode()


def test_sandbox_kills_a_slow_call_and_reports_failures():
    sleepy = Sandbox(time.sleep, timeout_s=0.5)
    t0 = time.perf_counter()
    with pytest.raises(CallTimeout):
        sleepy(60)
    assert time.perf_counter() - t0 < 5
    assert sleepy.process is None  # killed; the next call starts a fresh child
    assert sleepy(0) is None
    with pytest.raises(CallFailed, match="ValueError"):
        Sandbox(int, timeout_s=5)("not a number")
    dying = Sandbox(os._exit, timeout_s=5)
    with pytest.raises(CallCrashed, match="exit code 3"):
        dying(3)
    assert Sandbox(functools.partial(int, base=16), timeout_s=5)("ff") == 255
    with pytest.raises(RuntimeError, match="did not start"):  # the warm-up raised: a broken setup, said at once
        Sandbox(int, timeout_s=5, warmup="not a number")(1)


def test_slow_page_is_dropped_as_extract_timeout_and_the_next_pages_extract(pages, caplog):
    batch, huge = pages
    rows_in = [batch.slice(1, 1).to_pylist()[0], {**batch.slice(2, 1).to_pylist()[0], "html": huge,
                                                  "url": "http://slow.test/huge"}, batch.slice(3, 1).to_pylist()[0]]
    step = ExtractHtml(HtmlParams(engine="trafilatura", timeout_s=1))
    step.setup()
    page = decode_html(huge, "text/html; charset=utf-8")
    step.extract("<html><body><p>warm</p></body></html>")  # the child is up before the clock runs
    t0 = time.perf_counter()
    with pytest.raises(CallTimeout):
        step.extract(page)
    assert time.perf_counter() - t0 < 4  # cut at the limit, not after the page's ~16 s
    result = step.keep(pa.RecordBatch.from_pylist(rows_in, schema=batch.schema))
    assert result.keep.tolist() == [True, False, True]
    assert result.reasons[1] == "extract_timeout"
    texts = result.batch.column("text").to_pylist()
    assert len(texts[0]) > 200 and len(texts[2]) > 200
    assert "http://slow.test/huge: extract_timeout" in caplog.text


def test_timeout_inside_the_engine_workers(pages, tmp_path):
    batch, huge = pages
    path = tmp_path / "in" / "slow.warc.gz"
    path.parent.mkdir()
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        docs = batch.slice(0, 4).to_pylist()
        for i, body in enumerate([docs[0]["html"], huge, docs[1]["html"], docs[2]["html"]]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"http://slow.test/{i}", "response",
                                                          payload=io.BytesIO(body), http_headers=headers))
    config = {"name": "timeout", "input": {"reader": "warc", "paths": [str(path)]},
              "steps": [{"extract.html": {"engine": "trafilatura", "timeout_s": 1}}],
              "output": {"path": str(tmp_path / "out")}, "executor": {"kind": "local", "workers": 1}}
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(config))
    assert main(["run", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    step = manifest["steps"][0]
    assert step["docs_in"] == 4 and step["docs_out"] == 3
    assert step["removed"] == {"extract_timeout": 1}
    assert step["seconds"] < 12  # the page alone takes ~16 s without the limit
    log = (tmp_path / "out" / "run.log").read_text()
    assert "http://slow.test/1: extract_timeout" in log


def test_timeout_with_resiliparse_is_a_config_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "input": {"reader": "warc", "paths": [str(WARC)]},
                                    "steps": [{"extract.html": {"timeout_s": 5}}],
                                    "output": {"path": str(tmp_path / "o")}}))
    with pytest.raises(ConfigError, match="timeout_s applies to engine: trafilatura only"):
        load_plan(str(path))
