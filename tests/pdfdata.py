"""PDF fixtures built from real pages: scans of born-digital pages (rendered at a dpi, turned a few
degrees, with mild noise, rebuilt as image-only PDFs) whose text layer is the ground truth, broken PDFs
written by hand (zero pages, a page tree that loops, a page too large to render, an image that would
inflate to gigabytes), and the CER/WER used to score OCR."""

from __future__ import annotations

import unicodedata
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_PDF = Path(__file__).resolve().parents[1] / "data" / "sample" / "pdf"
TASN1 = SAMPLE_PDF / "libtasn1.pdf"  # GNU Libtasn1 manual (texinfo): prose and code
REPORTLAB = SAMPLE_PDF / "reportlab-userguide.pdf"  # ReportLab user guide: prose, tables, code


def page_text(pdf: Path, index: int, order: str = "layout") -> str:
    """A page's text layer: the OCR ground truth. In visual reading order (`layout`), as a reader and an OCR
    engine see the page: PDFium's content-stream order (`stream`) puts a running head drawn last after the
    body and can read a figure's right-hand box before its left column, which scored correct OCR as
    errors (reportlab p10: 20% CER, nearly all of it the running head).
    Tidied as the reader tidies OCR output (curate/ocr/tidy.py), so a word the typesetter hyphenated at a
    line end is one word on both sides (it scored `man agement` against OCR's `management`)."""
    import pypdfium2 as pdfium

    from curate.ocr.layout import visual_text
    from curate.ocr.tidy import tidy

    page = pdfium.PdfDocument(str(pdf))[index]
    textpage = page.get_textpage()
    return tidy(visual_text(textpage, page.get_size()[1]) if order == "layout" else textpage.get_text_bounded())


def scan(pdf: Path, index: int, dpi: int, angle: float = 0.0, noise: float = 0.0, seed: int = 0) -> Image.Image:
    """A page as a scanner would give it: grey, at `dpi`, turned `angle` degrees, with salt-and-pepper
    `noise` (share of pixels flipped) and a little blur of grey levels."""
    import pypdfium2 as pdfium

    image = pdfium.PdfDocument(str(pdf))[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    if angle:
        image = image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    if noise:
        rng = np.random.default_rng(seed)
        a = np.asarray(image, dtype=np.int16) + rng.normal(0, 12, image.size[::-1]).astype(np.int16)
        flips = rng.random(a.shape) < noise
        a[flips] = 255 - a[flips]
        image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return image


def image_pdf(images: list[Image.Image], path: Path, dpi: int) -> Path:
    """An image-only PDF (no text layer), one page per image, as a scanner writes it."""
    images[0].save(path, save_all=True, append_images=images[1:], resolution=dpi)
    return path


def normalize(text: str) -> str:
    """For scoring: NFKC (ligatures, wide forms), one space for any whitespace, and `_` as a space (the
    texinfo text layers write an underscore as a drawn rule, so the ground truth has a space there)."""
    text = unicodedata.normalize("NFKC", text).replace("_", " ").replace("\x02", "")
    for a, b in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "-"), ("\u2014", "-")):
        text = text.replace(a, b)
    return " ".join(text.split())


def edit_distance(a, b) -> int:
    """Levenshtein distance of two sequences (Myers' bit-parallel algorithm on Python integers)."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict = {}
    for i, c in enumerate(b):
        peq[c] = peq.get(c, 0) | (1 << i)
    full, top = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = full, 0, m
    for c in a:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        score += 1 if ph & top else -1 if mh & top else 0
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference), normalize(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    return edit_distance(ref, hyp) / max(1, len(ref))


def raw_pdf(objects: list[bytes], path: Path, root: int = 1, xref: bool = True) -> Path:
    """A PDF from numbered object bodies (1-based), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, start)
    path.write_bytes(bytes(out))
    return path


def zero_pages(path: Path) -> Path:
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"], path)


def looping_tree(path: Path) -> Path:
    """A page tree whose Pages node lists itself as its own kid: a parser that follows it never ends."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"], path)


def huge_page(path: Path) -> Path:
    """A page 14,400 inches square with no text: rendering it at 300 dpi would need 18 terapixels."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] /Resources << /XObject << /Im 4 0 R >> >>"
                    b" /Contents 5 0 R >>", *_bomb_image(2000, 2000), b"<< /Length 34 >>\nstream\n"
                    b"q 14400 0 0 14400 0 0 cm /Im Do Q\nendstream"], path)


def bomb_image(path: Path) -> Path:
    """A letter-size page showing one 100,000 x 100,000 image: 10 GB once decoded, 10 MB of zeros stored."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im 4 0 R >> >>"
                    b" /Contents 5 0 R >>", *_bomb_image(100_000, 100_000), b"<< /Length 30 >>\nstream\n"
                    b"q 612 0 0 792 0 0 cm /Im Do Q\nendstream"], path)


def _bomb_image(width: int, height: int) -> list[bytes]:
    data = zlib.compress(bytes(10 << 20), 9)
    return [b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
            b" /Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, len(data)) + data + b"\nendstream"]


def png_bomb(path: Path) -> Path:
    """A PNG whose header says 100,000 x 100,000 pixels (10 GB decoded) in a few KB."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1 << 20)))
                     + chunk(b"IEND", b""))
    return path


def repeated_pdf(pdf: Path, pages: int, path: Path) -> Path:
    """A `pages`-page PDF made of `pdf`'s pages over and over (PDFium shares the resources: a few MB)."""
    import pypdfium2 as pdfium

    source, out = pdfium.PdfDocument(str(pdf)), pdfium.PdfDocument.new()
    while len(out) < pages:
        out.import_pages(source, list(range(min(len(source), pages - len(out)))))
    out.save(str(path))
    return path
