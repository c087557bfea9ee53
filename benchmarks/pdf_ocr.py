"""PDF / OCR figures: CER and WER of OCR'd pages against the text layer they were rendered from, in visual
reading order and tidied as OCR output is (tests/pdfdata.py `page_text`) (150 and 300 dpi; prose, tables,
code, skewed noisy scans; pages tuned on and held out), pages/s per core for text-layer and OCR pages, and the
share of born-digital pages routed to OCR. Peers: tesseract alone (`--psm 3`, no deskew) on the same
scans, pypdf and pdfplumber on the same text layers. Runs single-process (one core) in a few minutes:

    .venv/bin/python benchmarks/pdf_ocr.py
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.engine.reader import ReadStats, make_reader  # noqa: E402
from curate.ocr import pages  # noqa: E402
from tests import pdfdata  # noqa: E402

BORN_DIGITAL = [pdfdata.TASN1, pdfdata.REPORTLAB, *map(Path, glob.glob("/usr/share/doc/c++-annotations/cplusplus.pdf")),
                *map(Path, glob.glob("/usr/share/doc/shared-mime-info/*.pdf")),
                *map(Path, sorted(glob.glob("/usr/share/doc/r-doc-pdf/*.pdf"))[:3])]
CPP, MIME = Path("/usr/share/doc/c++-annotations/cplusplus.pdf"), Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")
# (kind, pdf, 0-based page, angle, noise, set). `tuned`: the pages the rules (reading order, bullets, URL
# spacing) were chosen on, diffs read; `held-out`: picked by kind from their text layers before any OCR
# of them was looked at, never tuned on (Debian c++-annotations-pdf and shared-mime-info where installed).
PAGES = [("prose", pdfdata.TASN1, 3, 0.0, 0.0, "tuned"), ("prose", pdfdata.REPORTLAB, 8, 0.0, 0.0, "tuned"),
         ("table", pdfdata.REPORTLAB, 82, 0.0, 0.0, "tuned"), ("table", pdfdata.REPORTLAB, 62, 0.0, 0.0, "tuned"),
         ("code", pdfdata.TASN1, 12, 0.0, 0.0, "tuned"), ("skewed", pdfdata.TASN1, 4, 3.0, 0.002, "tuned"),
         ("skewed", pdfdata.REPORTLAB, 9, -2.0, 0.002, "tuned"),
         ("prose", MIME, 4, 0.0, 0.0, "held-out"), ("prose", CPP, 60, 0.0, 0.0, "held-out"),
         ("table", pdfdata.REPORTLAB, 55, 0.0, 0.0, "held-out"), ("table", pdfdata.REPORTLAB, 108, 0.0, 0.0, "held-out"),
         ("code", pdfdata.REPORTLAB, 70, 0.0, 0.0, "held-out"), ("code", pdfdata.TASN1, 20, 0.0, 0.0, "held-out"),
         ("skewed", CPP, 200, 1.5, 0.002, "held-out"), ("skewed", MIME, 8, -3.0, 0.002, "held-out")]
PAGES = [p for p in PAGES if p[1].exists()]


def text_layer_speed() -> list[tuple]:
    """pages/s on one core: this reader (PDFium + routing check, through its page process), pypdf, pdfplumber."""
    import pdfplumber
    import pypdf

    rows = []
    for pdf in (pdfdata.TASN1, pdfdata.REPORTLAB):
        reader = make_reader({"reader": "pdf", "paths": [str(pdf)]}, "bench")
        list(reader.batches(str(pdfdata.TASN1), ReadStats()))  # start the page process
        t = time.perf_counter()
        list(reader.batches(str(pdf), ReadStats()))
        ours = len(pypdf.PdfReader(pdf).pages) / (time.perf_counter() - t)
        t = time.perf_counter()
        n = len([p.extract_text() for p in pypdf.PdfReader(pdf).pages])
        peer = n / (time.perf_counter() - t)
        t = time.perf_counter()
        with pdfplumber.open(pdf) as doc:
            k = len([p.extract_text() for p in doc.pages[:30]])
        plumber = k / (time.perf_counter() - t)
        rows.append((pdf.name, n, ours, peer, plumber))
    return rows


def routed_share() -> tuple[int, int]:
    routed = total = 0
    for pdf in BORN_DIGITAL:
        rows, stats = read(pdf)
        total += sum(len(range(*map(int, r["pages"].split("-")))) + 1 for r in rows) + stats.skipped.get("no_text", 0)
        routed += sum(len(r["ocr_pages"]) for r in rows)
    return routed, total


def read(pdf: Path, **params):
    stats = ReadStats()
    reader = make_reader({"reader": "pdf", "paths": [str(pdf)], "split": "pages", **params}, "bench")
    return [r for b in reader.batches(str(pdf), stats) for r in b.to_pylist()], stats


def tesseract_alone(image) -> str:
    buf = BytesIO()
    image.save(buf, format="PNG")
    return subprocess.run(["tesseract", "-", "-", "--psm", "3"], input=buf.getvalue(), capture_output=True,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"}).stdout.decode()


def ocr_quality(engines: list[str]) -> list[tuple]:
    rows = []
    for kind, pdf, index, angle, noise, where in PAGES:
        truth = pdfdata.page_text(pdf, index)
        for dpi in (150, 300):
            image = pdfdata.scan(pdf, index, dpi, angle=angle, noise=noise, seed=index)
            for engine in engines:
                opts = {"engine": engine, "languages": "eng"}
                t = time.perf_counter()
                if engine == "tesseract alone":
                    text = tesseract_alone(image)
                else:
                    text = pages.ocr(image, "bench", opts)["text"]
                took = time.perf_counter() - t
                rows.append((kind, f"{pdf.stem} p{index + 1}", dpi, engine, pdfdata.cer(truth, text),
                             pdfdata.wer(truth, text), took, where))
    return rows


def main() -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    engines = ["tesseract", "rapidocr", "tesseract alone"] if shutil.which("tesseract") else ["rapidocr"]
    print("## text-layer pages/s, one core")
    print(f"{'file':32} {'pages':>6} {'gristmill':>10} {'pypdf':>8} {'pdfplumber':>11}")
    for name, n, ours, peer, plumber in text_layer_speed():
        print(f"{name:32} {n:6d} {ours:10.0f} {peer:8.0f} {plumber:11.1f}")
    routed, total = routed_share()
    print(f"\n## born-digital pages routed to OCR: {routed} of {total} "
          f"({', '.join(p.name for p in BORN_DIGITAL)})")
    print("\n## OCR against the text layer (visual reading order, tidied; NFKC, whitespace collapsed); one core")
    print(f"{'kind':7} {'page':26} {'set':8} {'dpi':>4} {'engine':16} {'CER':>7} {'WER':>7} {'s/page':>7}")
    rows = ocr_quality(engines)
    for kind, page, dpi, engine, c, w, took, where in rows:
        print(f"{kind:7} {page:26} {where:8} {dpi:4d} {engine:16} {c:7.2%} {w:7.2%} {took:7.2f}")
    print("\n## summary (mean CER; OCR pages/s per core); targets: prose@300 <= 1%, all <= 5%, skewed@300 <= 3%")
    for where in ("tuned", "held-out", "all pages"):
        for engine in engines:
            mine = [r for r in rows if r[3] == engine and where in (r[7], "all pages")]
            if not mine:
                continue

            def mean(sel):
                sel = list(sel)
                return sum(r[4] for r in sel) / max(1, len(sel))
            speed = {dpi: sum(1 for r in mine if r[2] == dpi) / sum(r[6] for r in mine if r[2] == dpi)
                     for dpi in (150, 300)}
            print(f"{where:9} {engine:16} prose@300 {mean(r for r in mine if r[0] == 'prose' and r[2] == 300):6.2%}  "
                  f"all {mean(mine):6.2%}  all@300 {mean(r for r in mine if r[2] == 300):6.2%}  "
                  f"skewed@300 {mean(r for r in mine if r[0] == 'skewed' and r[2] == 300):6.2%}  "
                  f"pages/s@150 {speed[150]:.2f} @300 {speed[300]:.2f}")


if __name__ == "__main__":
    main()
