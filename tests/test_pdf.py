"""PDF and OCR ingestion: the routing rule (text layer kept, OCR only where it fails), bad input counted
with a reason, OCR quality (CER) on real pages rendered as scans, and the ready pipeline end to end.
Fixtures are real PDFs from Debian and PyPI packages (data/sample/pdf) and scans made from them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

import pyarrow.parquet as pq
import pytest

from curate.engine.reader import ReadStats, make_reader
from curate.ocr import textcheck
from curate.ocr.engines import bullets, from_tsv
from curate.ocr.tidy import join_pages, tidy
from pipelines.cli import main
from tests import pdfdata
from tests.conftest import ROOT

HAS_TESSERACT = shutil.which("tesseract") is not None
needs_tesseract = pytest.mark.skipif(not HAS_TESSERACT, reason="tesseract is not installed (apt-get install "
                                     "tesseract-ocr tesseract-ocr-eng); the rapidocr tests cover OCR without it")


def read(path, **params):
    stats = ReadStats()
    reader = make_reader({"reader": "pdf", "paths": [str(path)], **params}, "pdf/test")
    rows = [r for b in reader.batches(str(path), stats) for r in b.to_pylist()]
    return rows, stats


# -- the routing rule -------------------------------------------------------------------------------

def test_real_text_layers_are_kept_and_garbage_is_routed_to_ocr():
    prose, code = pdfdata.page_text(pdfdata.TASN1, 3), pdfdata.page_text(pdfdata.TASN1, 12)
    table = pdfdata.page_text(pdfdata.REPORTLAB, 82)
    for text in (prose, code, table):
        assert textcheck.verdict(text, 0.0) is None
    shifted = "".join(chr(ord(c) + 3) if c.isascii() and c.isalpha() else c for c in prose)  # glyph-id font
    assert textcheck.verdict(shifted, 0.0) == "not_words"
    assert textcheck.verdict(prose.replace("e", "\ufffd"), 0.0) == "replacement_chars"
    assert textcheck.verdict(" ".join(f"(cid:{i})" for i in range(300)), 0.0) == "cid_glyphs"
    assert textcheck.verdict(("café résumé naïve déjà " * 20).encode().decode("latin-1"), 0.0) == "mojibake"
    assert textcheck.verdict("".join(chr(0xE000 + i % 200) for i in range(500)), 0.0) == "control_chars"
    assert textcheck.verdict("  12 ", 0.9) == "no_text_layer"  # a scan with a page number
    assert textcheck.verdict("  12 ", 0.0) is None  # a blank page stays blank


def test_no_born_digital_page_is_ocrd():
    for pdf, pages in ((pdfdata.TASN1, 36), (pdfdata.REPORTLAB, 134)):
        rows, stats = read(pdf, split="pages", pages_per_doc=1)
        assert len(rows) + stats.skipped.get("no_text", 0) == pages
        assert not [r for r in rows if r["ocr_pages"]] and not stats.skipped.keys() - {"no_text"}


def test_split_metadata_and_origin():
    rows, _ = read(pdfdata.TASN1, split="pages", pages_per_doc=10)
    assert [r["pages"] for r in rows] == ["1-10", "11-20", "21-30", "31-36"]
    assert [r["origin"]["row"] for r in rows] == [1, 11, 21, 31]
    assert rows[1]["origin"]["record_id"] == "pages 11-20" and rows[0]["origin"]["file"] == str(pdfdata.TASN1)
    assert len({r["id"] for r in rows}) == 4
    whole, _ = read(pdfdata.REPORTLAB)
    assert len(whole) == 1 and whole[0]["pages"] == "1-134"
    assert whole[0]["title"] == "ReportLab PDF Generation User Guide" and whole[0]["created"].startswith("20")
    assert whole[0]["ocr_pages"] == [] and whole[0]["ocr_engine"] is None


def test_dehyphenation_and_page_joins():
    assert tidy("recog-\nnition of well-\nKnown C-\n3PO \u2014\nend") == "recognition of well-\nKnown C-\n3PO \u2014\nend"
    assert tidy("dan\x02\r\ngerous") == "dangerous"
    assert join_pages(["the recog-", "nition"]) == "the recognition"
    rows, _ = read(pdfdata.SAMPLE_PDF / "Seige_of_Vicksburg_Sample_OCR.pdf")
    assert "dangerous" in rows[0]["text"] and "\x02" not in rows[0]["text"]


def test_text_layers_are_read_in_visual_order():
    stream = pdfdata.page_text(pdfdata.REPORTLAB, 9, order="stream")
    assert stream.rstrip().endswith("Page 10") and "User Guide Chapter 1 Introduction\nPage 10" in stream
    rows, _ = read(pdfdata.REPORTLAB, split="pages")
    p10, p83 = rows[9]["text"], rows[82]["text"]
    assert p10.startswith("User Guide Chapter 1 Introduction\n• Add ability") and p10.endswith("Page 10")
    assert "bulletAnchor anchor, bulletAnchor, bulletanchor\n" in p83  # a table is read row by row
    code, box = p83.index("alignment = 0\nallowOrphans = 0"), p83.index("wordWrap = None\n• this is a bullet point")
    assert p83.index("Table 6-3") < code < box < p83.index("Figure 6-15")  # left column, then the box
    streamed, _ = read(pdfdata.REPORTLAB, split="pages", reading_order="stream")
    for page, other in zip(rows, streamed):  # the same characters, only their order changes
        assert Counter("".join(page["text"].split())) == Counter("".join(other["text"].split()))


def test_tesseract_bullets_and_url_spacing_are_repaired():
    line = [("e", 414, 18, 17), ("On-line", 468, 142, 33)]  # tesseract's word boxes on libtasn1 p4
    assert bullets(line, 33) == ["\u2022", "On-line"]
    assert bullets([("e", 414, 18, 17), ("poi", 440, 50, 21)], 33) == ["e", "poi"]  # Italian `e`: a space apart
    assert bullets([("e", 414, 18, 30), ("On-line", 468, 142, 33)], 33) == ["e", "On-line"]  # a full-size letter
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    rows = [f"5\t1\t1\t1\t1\t{i}\t{x}\t10\t{w}\t{h}\t90\t{t}" for i, (t, x, w, h) in
            enumerate([("see", 10, 60, 33), ("http:", 80, 90, 33), ("//x.org/", 180, 120, 33)], 1)]
    assert from_tsv(head + "\n".join(rows))[0] == "see http://x.org/"


def test_a_thousand_page_pdf_reads_in_bounded_memory_with_two_page_workers(tmp_path):
    """Peak RSS of a fresh reader process: 1,000 pages within a few MB of 100 pages (page by page, documents
    of 10 pages handed on), and two page workers give the same pages in the same order as one."""
    small = pdfdata.repeated_pdf(pdfdata.TASN1, 100, tmp_path / "small.pdf")
    large = pdfdata.repeated_pdf(pdfdata.TASN1, 1000, tmp_path / "large.pdf")
    probe = ("import json, resource, sys\nfrom curate.engine.reader import ReadStats, make_reader\n"
             "path, workers = sys.argv[1], int(sys.argv[2])\nstats = ReadStats()\n"
             "reader = make_reader({'reader': 'pdf', 'paths': [path], 'split': 'pages', 'pages_per_doc': 10,"
             " 'page_workers': workers, 'reading_order': 'stream'}, 'pdf/test')\nranges, sizes = [], []\n"
             "for b in reader.batches(path, stats):\n    rows = b.to_pylist()\n"
             "    ranges += [r['pages'] for r in rows]\n    sizes += [len(r['text']) for r in rows]\n"
             "print(json.dumps([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ranges, sizes,"
             " dict(stats.skipped)]))")

    def run(path, workers):
        done = subprocess.run([sys.executable, "-c", probe, str(path), str(workers)], cwd=ROOT,
                              capture_output=True, text=True, check=True, timeout=300)
        return json.loads(done.stdout.strip().splitlines()[-1])

    rss_small, _, sizes_small, skipped = run(small, 2)
    rss_large, ranges, sizes, skipped_large = run(large, 2)
    assert not skipped and not skipped_large
    assert ranges == [f"{i + 1}-{i + 10}" for i in range(0, 1000, 10)]
    assert sizes[:10] == sizes_small  # pages 1-100 read the same in both files
    assert rss_large - rss_small < 40_000, (rss_small, rss_large)  # KiB: no growth with the page count
    one, _ = read(pdfdata.TASN1, split="pages", page_workers=1)
    two, _ = read(pdfdata.TASN1, split="pages", page_workers=2)
    assert [r["text"] for r in two] == [r["text"] for r in one] and len(one) == 36


# -- bad input: each a counted skip with a reason --------------------------------------------------

@pytest.mark.parametrize("build, reason", [
    (lambda d: pdfdata.SAMPLE_PDF / "crazyones-encrypted-256.pdf", "encrypted"),
    (lambda d: (d / "cut.pdf").write_bytes(pdfdata.REPORTLAB.read_bytes()[:30_000]) and d / "cut.pdf", "corrupt_file"),
    (lambda d: (d / "notes.pdf").write_text("just some notes, not a PDF") and d / "notes.pdf", "not_a_pdf"),
    (lambda d: pdfdata.zero_pages(d / "zero.pdf"), "zero_pages"),
    (lambda d: pdfdata.looping_tree(d / "loop.pdf"), "page_failed"),
    (lambda d: pdfdata.huge_page(d / "huge.pdf"), "page_too_large"),
    (lambda d: pdfdata.png_bomb(d / "bomb.png"), "page_too_large"),
])
def test_bad_input_is_a_counted_skip(tmp_path, build, reason):
    rows, stats = read(build(tmp_path))
    assert rows == [] and stats.skipped[reason] == 1
    assert stats.places[reason]


def test_an_image_that_would_inflate_to_gigabytes_costs_nothing(tmp_path):
    rows, stats = read(pdfdata.bomb_image(tmp_path / "bomb.pdf"), ocr_engine="rapidocr", max_memory_mb=3000)
    assert rows == [] and sum(stats.skipped.values()) >= 1


def test_a_page_past_its_time_limit_is_left_out_and_the_rest_kept(tmp_path):
    scan = pdfdata.scan(pdfdata.TASN1, 3, 150)
    path = pdfdata.image_pdf([scan, scan], tmp_path / "scan.pdf", 150)
    rows, stats = read(path, page_timeout_s=0.05, ocr_engine="rapidocr")
    assert stats.skipped["page_timeout"] == 2 and rows == []


# -- OCR quality on real pages rendered as scans ----------------------------------------------------

def ocr_cer(tmp_path, index: int, dpi: int, engine: str, angle: float = 0.0, noise: float = 0.0) -> float:
    scan = pdfdata.scan(pdfdata.TASN1, index, dpi, angle=angle, noise=noise, seed=index)
    path = pdfdata.image_pdf([scan], tmp_path / f"scan-{index}-{dpi}.pdf", dpi)
    rows, stats = read(path, ocr_engine=engine, dpi=dpi)
    assert rows[0]["ocr_pages"] == [1] and rows[0]["ocr_engine"] == engine and rows[0]["ocr_confidence"] > 0.5
    return pdfdata.cer(pdfdata.page_text(pdfdata.TASN1, index), rows[0]["text"])


def test_rapidocr_reads_a_300dpi_prose_page(tmp_path):
    assert ocr_cer(tmp_path, 3, 300, "rapidocr") <= 0.03


@needs_tesseract
def test_tesseract_reads_a_300dpi_prose_page(tmp_path):
    assert ocr_cer(tmp_path, 3, 300, "tesseract") <= 0.01


@needs_tesseract
@pytest.mark.slow
def test_a_skewed_noisy_scan_is_straightened_and_read(tmp_path):
    assert ocr_cer(tmp_path, 4, 300, "tesseract", angle=3.0, noise=0.002) <= 0.03


# -- the ready pipeline -----------------------------------------------------------------------------

@pytest.mark.slow
def test_pdf_pipeline_turns_a_mixed_folder_into_documents(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "pipelines" / "pdf.yaml"), "--set", f"output.path={out}",
                 "--set", "input.dpi=150"]) == 0
    rows = [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    by_file = {r["origin"]["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert by_file["scan-libtasn1-p4-5.pdf"]["ocr_pages"] == [1, 2]
    assert by_file["scan-reportlab-p83.jpg"]["ocr_pages"] == [1]
    assert by_file["libtasn1.pdf"]["ocr_pages"] == [] and "Libtasn1" in by_file["libtasn1.pdf"]["text"]
    assert "Introduction" in by_file["scan-libtasn1-p4-5.pdf"]["text"]
