"""Common Crawl path: WARC/WET reading with damage counted, charset and main-text extraction,
URL block lists, language id, and the ready pipeline end to end. Fixtures are real pages
(data/sample/warc, captured over HTTP from Debian's docs) and real text from the sample corpus."""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import shutil

import numpy as np
import pyarrow as pa
import pytest
import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.engine.plan import load_plan
from curate.engine.reader import ReadStats, make_reader
from curate.extract.html import ExtractHtml, HtmlParams
from curate.filters.language import LanguageFilter, LanguageParams
from curate.filters.url import UrlFilter, UrlParams
from pipelines.cli import main
from provenance.yamlfile import ConfigError
from tests.conftest import ROOT, SAMPLE

WARC = SAMPLE / "warc" / "usr-share-doc.warc.gz"


def read_warc(path) -> tuple[list[pa.RecordBatch], ReadStats]:
    stats = ReadStats()
    return list(make_reader({"reader": "warc", "paths": [str(path)]}, "web/test").batches(str(path), stats)), stats


def rows(batches) -> list[dict]:
    return [r for b in batches for r in b.to_pylist()]


def accented_paragraph() -> str:
    """A real Wikipedia paragraph with Latin-1 accented letters."""
    with gzip.open(SAMPLE / "web-wikipedia.jsonl.gz", "rt") as f:
        for line in f:
            for para in json.loads(line)["text"].split("\n\n"):
                if re.search("[éèüöñç]", para) and len(para) > 300:
                    try:
                        para.encode("latin-1")
                        return para
                    except UnicodeEncodeError:
                        continue
    raise AssertionError("no accented paragraph in the sample")


def response(writer, url: str, body: bytes, content_type: str, status: str = "200 OK") -> None:
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))


def test_bundled_warc_yields_html_responses_and_counts_the_rest():
    batches, stats = read_warc(WARC)
    docs = rows(batches)
    assert len(docs) == 120
    assert stats.skipped == {"request_record": 122, "http_404": 1, "not_html": 1}
    first = docs[0]
    assert first["origin"]["record_id"].startswith("<urn:uuid:") and first["origin"]["date"]
    assert first["url"].startswith("http://127.0.0.1") and first["html"].lstrip().startswith(b"<!DOCTYPE")
    assert len({d["id"] for d in docs}) == 120
    # offsets point at the record's bytes
    raw = WARC.read_bytes()
    member = raw[docs[3]["origin"]["offset"]:]
    assert gzip.GzipFile(fileobj=io.BytesIO(member)).read(8) == b"WARC/1.0"


def test_warc_batches_end_at_a_size_in_bytes():
    whole = rows(read_warc(WARC)[0])
    reader = make_reader({"reader": "warc", "paths": [str(WARC)], "batch_mb": 0.1}, "web/test")
    batches = list(reader.batches(str(WARC), ReadStats()))
    sizes = [[len(h) for h in b.column("html").to_pylist()] for b in batches]
    assert len(batches) > 5 and all(sum(s[:-1]) < 0.1 * 2**20 <= sum(s) for s in sizes[:-1])
    assert rows(batches) == whole


def test_broken_records_and_charsets(tmp_path):
    para = accented_paragraph()
    path = tmp_path / "edge.warc.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        page = f"<html><head><title>t</title></head><body><article><p>{para}</p></article></body></html>"
        response(w, "http://a.test/latin1", page.encode("latin-1"), "text/html; charset=utf-8")
        response(w, "http://a.test/utf8", page.encode("utf-8"), "text/html")
        response(w, "http://a.test/empty", b"", "text/html")
        response(w, "http://a.test/plain", para.encode("utf-8"), "text/plain")
        response(w, "http://a.test/gone", page.encode("utf-8"), "text/html", status="404 Not Found")
        w.write_record(w.create_warc_record("http://a.test/wet", "conversion", payload=io.BytesIO(para.encode()),
                                            warc_content_type="text/plain"))
    batches, stats = read_warc(path)
    assert stats.skipped == {"empty_body": 1, "not_html": 1, "http_404": 1}
    step = ExtractHtml(HtmlParams())
    step.setup()
    result = step.keep(pa.Table.from_batches(batches).to_batches()[0])
    texts = result.batch.column("text").to_pylist()
    assert "html" not in result.batch.schema.names
    assert result.keep.all()
    for text in texts:  # Latin-1 declared as UTF-8, real UTF-8, and the WET record all decode right
        assert para[:200] in text


def test_truncated_and_lying_warcs_lose_only_what_is_damaged(tmp_path, caplog):
    raw = WARC.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    plain = gzip.decompress(raw)
    starts = [m.start() for m in re.finditer(rb"WARC/1\.0\r\n", plain)]
    head_end = plain.index(b"\r\n\r\n", starts[8])
    length = re.search(rb"Content-Length: (\d+)", plain[starts[8]:head_end])
    lying = tmp_path / "lying.warc"
    lying.write_bytes(plain[: starts[8]] + plain[starts[8]:head_end].replace(
        length.group(0), b"Content-Length: %d" % (int(length.group(1)) + 5000)) + plain[head_end:])
    whole = rows(read_warc(WARC)[0])
    with caplog.at_level(logging.WARNING, logger="gristmill"):
        batches, stats = read_warc(cut)  # what precedes the cut is kept
        docs = rows(batches)
        assert stats.skipped["corrupt_file"] == 1 and 0 < len(docs) < len(whole)
        assert [d["id"] for d in docs] == [d["id"] for d in whole[: len(docs)]]
        batches, stats = read_warc(lying)  # a Content-Length 5000 bytes too long costs its record only
        assert stats.skipped["corrupt_record"] == 1 and stats.places["corrupt_record"] == [f"{lying}@{starts[8]}"]
        kept = [(d["id"], d["origin"]["row"]) for d in whole if d["origin"]["row"] != 8]
        assert [(d["id"], d["origin"]["row"]) for d in rows(batches)] == kept and len(kept) == len(whole) - 1
    assert f"{cut}@" in caplog.text and f"{lying}@" in caplog.text


def test_text_steps_before_extraction_are_a_config_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "input": {"reader": "warc", "paths": [str(WARC)]},
                                    "steps": [{"filter.gopher.quality": {}}, {"extract.html": {}}],
                                    "output": {"path": str(tmp_path / "o")}}))
    with pytest.raises(ConfigError, match="needs column 'text'"):
        load_plan(str(path))


def test_url_filter_blocks_domains_subdomains_and_patterns(tmp_path):
    blocklist = tmp_path / "domains.txt"
    blocklist.write_text("# adult\nbad.example\n")
    step = UrlFilter(UrlParams(domains=["spam.test"], domain_files=[str(blocklist)], patterns=[r"/ads?/"]))
    step.setup()
    urls = ["http://spam.test/x", "https://www.bad.example/a", "http://notbad.example/", "http://ok.test/ad/1",
            "http://ok.test/adverb", None]
    batch = pa.RecordBatch.from_pydict({"url": pa.array(urls, pa.string())})
    result = step.keep(batch)
    assert result.keep.tolist() == [False, False, True, False, True, True]
    assert result.reasons[0] == "url_blocked_domain" and result.reasons[3] == "url_blocked_pattern"


def test_language_filter_on_real_sentences():
    from spacy.lang.de.examples import sentences as de
    from spacy.lang.es.examples import sentences as es
    from spacy.lang.fr.examples import sentences as fr

    with gzip.open(SAMPLE / "news-abc.jsonl.gz", "rt") as f:
        en = json.loads(f.readline())["text"]
    texts = [en, " ".join(de), " ".join(fr), " ".join(es), ""]
    step = LanguageFilter(LanguageParams(languages=["en", "de"], min_score=0.5))
    step.setup()
    result = step.keep(pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.large_string())}))
    assert result.batch.column("lang").to_pylist()[:4] == ["en", "de", "fr", "es"]
    assert result.keep.tolist() == [True, True, False, False, False]
    assert result.reasons[2] == "language_not_kept" and result.reasons[4] == "low_language_score"
    assert np.all(result.batch.column("lang_score").to_numpy()[:4] > 0.9)


def test_trafilatura_engine_extracts_the_same_page():
    batches, _ = read_warc(WARC)
    batch = batches[0].slice(1, 5)
    texts = {}
    for engine in ("resiliparse", "trafilatura"):
        step = ExtractHtml(HtmlParams(engine=engine))
        step.setup()
        texts[engine] = step.keep(batch).batch.column("text").to_pylist()
    for a, b in zip(texts["resiliparse"], texts["trafilatura"]):
        words_a, words_b = set(a.split()), set(b.split())
        assert len(words_a & words_b) >= 0.5 * min(len(words_a), len(words_b)) > 0


@pytest.mark.slow
def test_commoncrawl_pipeline_end_to_end(tmp_path):
    config = yaml.safe_load((ROOT / "pipelines" / "commoncrawl.yaml").read_text())
    shutil.copy(WARC, tmp_path / "a.warc.gz")
    config["input"]["paths"] = [str(tmp_path / "*.warc.gz")]
    config["output"]["path"] = str(tmp_path / "out")
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path)]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["read"]["docs"] == 120 and manifest["read"]["skipped"]["request_record"] == 122
    assert 0 < manifest["output"]["docs"] < 120
    assert {"lang", "lang_score", "text"} <= set(manifest["output"]["columns"])
    assert "html" not in manifest["output"]["columns"]
