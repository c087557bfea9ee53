"""PDF metadata for provenance: the Info dictionary (title, author, dates) and XMP licence fields.

The Info dictionary comes from PDFium. XMP packets are found in the file's bytes (the PDF standard
recommends leaving the metadata stream uncompressed so that tools can do this), read a MiB at a time:
the licence URL (`xmpRights:WebStatement`, `cc:license`), the usage terms or rights statement
(`xmpRights:UsageTerms`, `dc:rights`) and, where Info lacks them, `dc:title` and `dc:creator`.
"""

from __future__ import annotations

import re

PIECE = 1 << 20
MAX_PACKET = 1 << 20  # an XMP packet larger than this is not read
XMP_START, XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"
FIELDS = ("title", "author", "created", "modified", "rights", "license_url")


def pdf_date(value: str | None) -> str | None:
    """`D:20240131120000+01'00'` as `2024-01-31T12:00:00`; anything else as it is (None when empty)."""
    if not value:
        return None
    m = re.match(r"D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?", value.strip())
    if not m:
        return value.strip() or None
    y, mo, d, h, mi, s = (g or dflt for g, dflt in zip(m.groups(), ("", "01", "01", "00", "00", "00")))
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"


def xmp_packet(path: str) -> str | None:
    """The last XMP packet in the file (a PDF updated in place appends the newer one), or None."""
    found, tail = None, b""
    with open(path, "rb") as f:
        while piece := f.read(PIECE):
            data = tail + piece
            start = data.rfind(XMP_START)
            if start >= 0:
                end = data.find(XMP_END, start)
                if end >= 0:
                    found = data[start:end + len(XMP_END)]
                    tail = data[end:][-len(XMP_START):]
                    continue
                if len(data) - start < MAX_PACKET:
                    tail = data[start:]
                    continue
            tail = data[-len(XMP_START):]
    return found.decode("utf-8", "replace") if found else None


def _xmp_field(xmp: str, name: str) -> str | None:
    """An element's text (the first rdf:li of an Alt/Seq/Bag) or an attribute's value."""
    m = re.search(rf"<{name}[^>]*?(?:rdf:resource=\"([^\"]*)\"[^>]*)?/?>(.*?)</{name}>", xmp, re.S) or \
        re.search(rf"<{name}\b[^>]*rdf:resource=\"([^\"]*)\"", xmp) or re.search(rf"\b{name}=\"([^\"]*)\"", xmp)
    if not m:
        return None
    groups = [g for g in m.groups() if g]
    if not groups:
        return None
    inner = groups[-1]
    li = re.search(r"<rdf:li[^>]*>(.*?)</rdf:li>", inner, re.S)
    value = re.sub(r"<[^>]+>", " ", li.group(1) if li else inner)
    return " ".join(value.split()) or None


def metadata(info: dict, path: str) -> dict[str, str | None]:
    """The metadata columns from PDFium's Info dict and the file's XMP packet."""
    meta = {"title": info.get("Title") or None, "author": info.get("Author") or None,
            "created": pdf_date(info.get("CreationDate")), "modified": pdf_date(info.get("ModDate")),
            "rights": None, "license_url": None}
    xmp = xmp_packet(path)
    if xmp:
        meta["license_url"] = _xmp_field(xmp, "xmpRights:WebStatement") or _xmp_field(xmp, "cc:license")
        meta["rights"] = _xmp_field(xmp, "xmpRights:UsageTerms") or _xmp_field(xmp, "dc:rights")
        meta["title"] = meta["title"] or _xmp_field(xmp, "dc:title")
        meta["author"] = meta["author"] or _xmp_field(xmp, "dc:creator")
    return {k: (v[:2000] if v else None) for k, v in meta.items()}
