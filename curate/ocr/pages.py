"""The work for one page, done in a child process (curate/extract/sandbox.py) that the reader kills when a
page runs past `page_timeout_s`: open a file (a PDF, or a PNG/JPEG/TIFF image whose frames are its
pages), and read one page of it: its text layer where `textcheck` keeps it (in visual reading order,
`layout`, unless `reading_order: stream`), else the page rendered, made upright and straight, and OCR'd.

Bad input comes back as `{"skip": reason, "detail": ...}` rather than an exception, so the reader counts
it by name: `encrypted`, `not_a_pdf`, `corrupt_file`, `page_too_large` (rendering would need more than
`max_pixels`; an image file is checked from its header, before its pixels are decoded). The child's
address space is capped at `max_memory_mb`, so a page whose embedded image would inflate to gigabytes
fails inside the child (counted as `page_failed` or `page_crashed`) instead of taking the machine.
"""

from __future__ import annotations

import math
import resource
import warnings

from PIL import Image

from . import engines, textcheck
from .layout import visual_text
from .pdfmeta import metadata
from .prepare import prepare
from .tidy import tidy

PDF, IMAGE = b"%PDF", (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
MIN_DPI = 50  # a page that fits max_pixels only below this is too large to OCR
_OPEN: dict = {}  # the one file open in this child: {"path": ..., "doc": ...}


def work(item: tuple):
    """("limit", max_memory_mb) | ("open", path, opts) | ("page", path, index, opts)."""
    if item[0] == "limit":
        return set_memory_limit(item[1])
    if item[0] == "open":
        return open_file(item[1])
    return read_page(item[1], item[2], item[3])


def set_memory_limit(mb: int) -> None:
    """The child's start: PDFium loaded now, so that no page's time limit pays for the import."""
    import pypdfium2  # noqa: F401

    if mb:
        limit = mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def kind_of(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(1024)
    if PDF in head:
        return "pdf"
    return "image" if head.startswith(IMAGE) else None


def open_file(path: str) -> dict:
    """{"kind", "pages", "meta"} or {"skip", "detail"}."""
    import pypdfium2 as pdfium

    close()
    kind = kind_of(path)
    if kind is None:
        return {"skip": "not_a_pdf", "detail": "neither a PDF nor a PNG, JPEG or TIFF image"}
    if kind == "image":
        try:
            image = Image.open(path)
            return {"kind": "image", "pages": getattr(image, "n_frames", 1), "meta": {}} | _keep(path, image)
        except Image.DecompressionBombError as err:
            return {"skip": "page_too_large", "detail": str(err)[:300]}
        except (OSError, ValueError) as err:
            return {"skip": "corrupt_file", "detail": str(err)[:300]}
    try:
        doc = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as err:
        message = str(err)
        reason = "encrypted" if "password" in message.lower() or "security" in message.lower() else "corrupt_file"
        if reason == "corrupt_file" and page_count(path) == 0:
            reason = "zero_pages"  # PDFium will not open a document without pages
        return {"skip": reason, "detail": message[:300]}
    n = len(doc)
    meta = metadata(doc.get_metadata_dict(skip_empty=True), path)
    return {"kind": "pdf", "pages": n, "meta": meta} | _keep(path, doc)


def page_count(path: str) -> int | None:
    """The pages pypdf finds where PDFium gave up (None: pypdf cannot read it either)."""
    import pypdf

    try:
        return len(pypdf.PdfReader(path).pages)
    except Exception:  # any damage pypdf trips on: the file is corrupt either way
        return None


def _keep(path: str, doc) -> dict:
    _OPEN.update(path=path, doc=doc)
    return {}


def close() -> None:
    doc = _OPEN.pop("doc", None)
    _OPEN.pop("path", None)
    if doc is not None:
        doc.close()


def read_page(path: str, index: int, opts: dict) -> dict:
    """{"text", "ocr_reason", "engine", "confidence", "turn", "skew"} or {"skip", "detail"}."""
    if _OPEN.get("path") != path:
        opened = open_file(path)
        if "skip" in opened:
            return opened
    doc = _OPEN["doc"]
    if isinstance(doc, Image.Image):
        doc.seek(index)
        w, h = doc.size
        if w * h > opts["max_pixels"]:
            return {"skip": "page_too_large", "detail": f"{w}x{h} pixels"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = doc.convert("L")
        return ocr(image, "image_file", opts)
    page = doc[index]
    try:
        textpage = page.get_textpage()
        text = textpage.get_text_bounded()
        reason = {"never": None, "always": "ocr_always"}.get(opts["ocr"]) or (
            textcheck.verdict(text, image_share(page)) if opts["ocr"] == "auto" else None)
        if not reason:
            if opts.get("reading_order", "layout") == "layout":
                text = visual_text(textpage, page.get_size()[1])
            return {"text": tidy(text), "ocr_reason": None}
        w, h = page.get_size()
        scale = min(opts["dpi"] / 72, math.sqrt(opts["max_pixels"] / max(w * h, 1.0)))
        if scale * 72 < MIN_DPI:
            return {"skip": "page_too_large", "detail": f"{w:.0f}x{h:.0f} pt"}
        image = page.render(scale=scale, grayscale=True, may_draw_forms=True).to_pil()
    finally:
        page.close()
    return ocr(image, reason, opts)


def ocr(image: Image.Image, reason: str, opts: dict) -> dict:
    name = opts["engine"]
    upright, turn, angle = prepare(image, use_osd=name == "tesseract")
    text, confidence = engines.get(name, opts["languages"])(upright)
    return {"text": tidy(text), "ocr_reason": reason, "engine": name, "confidence": confidence,
            "turn": turn, "skew": round(angle, 2)}


def image_share(page) -> float:
    """The part of the page its images cover (0..1), images inside forms included."""
    import pypdfium2.raw as raw

    w, h = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=5):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, min(right, w) - max(left, 0.0)) * max(0.0, min(top, h) - max(bottom, 0.0))
    return min(1.0, covered / max(w * h, 1.0))
