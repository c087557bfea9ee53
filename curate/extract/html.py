"""extract.html: raw HTML bytes -> main text, after charset detection.

The charset declared in the HTTP header is tried first, strictly, then UTF-8,
strictly (most pages are UTF-8, and other encodings' non-ASCII bytes are almost
never valid UTF-8); pages whose bytes decode with neither (a page declared
UTF-8 that is Latin-1) get resiliparse's detector, then UTF-8 and Windows-1252
as fallbacks. Main text comes from resiliparse (default, fast; see
curate/extract/maintext.py) or trafilatura (`engine: trafilatura`).
The default also fills a `title` column with the page's headline, which stays out
of `text` (other engines and modes: the `<title>` element). Rows that already have text (WET records) pass
through with a null title; pages with no main text are dropped with the reason `no_main_text`.

trafilatura can take minutes on a pathological page, so it runs in a child
process (curate/extract/sandbox.py) that is killed after `timeout_s` seconds:
such a page is dropped as `extract_timeout` and logged with its URL; an
exception in trafilatura drops the page as `extract_error`, a child that dies
as `extract_crashed`. resiliparse runs in-process (C++, ~230 pages/s).
"""

from __future__ import annotations

import functools
import html as html_lib
import logging
import re
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register
from curate.extract.sandbox import CallCrashed, CallFailed, CallTimeout, Sandbox

log = logging.getLogger("gristmill")

CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
WARMUP_PAGE = "<html><body><article><p>A page to load trafilatura with.</p></article></body></html>"


class HtmlParams(Params):
    engine: Literal["resiliparse", "trafilatura"] = "resiliparse"
    main_content: bool = True  # only the main content, not menus, footers and boilerplate
    # trafilatura only: seconds one page may take before it is dropped as `extract_timeout` (None: no
    # limit, and no child process). The largest real pages measured (750 KB Python docs) take ~5 s.
    timeout_s: float | None = Field(20.0, gt=0)


def decode_html(html: bytes, content_type: str | None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    declared = CHARSET.search(content_type or "")
    for encoding in (declared.group(1), "utf-8") if declared else ("utf-8",):
        try:
            return html.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    return bytes_to_str(html, detect_encoding(html), fallback_encodings=("utf-8", "cp1252"))


def trafilatura_text(page: str, precision: bool) -> str:
    import trafilatura

    return trafilatura.extract(page, favor_precision=precision, include_comments=False) or ""


@register("extract.html")
class ExtractHtml(Filter):
    """Decode each page's bytes and extract its main text into `text`; the `html` column is dropped."""

    Params = HtmlParams
    needs = {"html": pa.large_binary(), "content_type": pa.string()}
    adds = {"text": pa.large_string(), "title": pa.string()}
    removes = ("html",)

    @classmethod
    def check(cls, p: HtmlParams) -> None:
        if p.engine == "resiliparse" and "timeout_s" in p.model_fields_set:
            raise ValueError("timeout_s applies to engine: trafilatura only (resiliparse runs in-process)")

    def setup(self) -> None:
        main = self.params.main_content
        if self.params.engine == "resiliparse" and main:
            from curate.extract.maintext import extract

            self.extract = extract
            return
        if self.params.engine == "resiliparse":
            from resiliparse.extract.html2text import extract_plain_text

            text = functools.partial(extract_plain_text, alt_texts=False)
        elif self.params.timeout_s is None:
            text = functools.partial(trafilatura_text, precision=main)
        else:
            text = Sandbox(functools.partial(trafilatura_text, precision=main), self.params.timeout_s,
                           warmup=WARMUP_PAGE)
        self.extract = lambda page: (_title_element(page), text(page))

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        pages = batch.column("html").to_pylist()
        types = batch.column("content_type").to_pylist()
        texts = batch.column("text").to_pylist()
        titles = batch.column("title").to_pylist() if "title" in batch.schema.names else [None] * len(texts)
        reasons = np.full(len(texts), None, dtype=object)
        for i, (page, content_type) in enumerate(zip(pages, types)):
            if page is None:
                continue
            try:
                titles[i], text = self.extract(decode_html(page, content_type))
                texts[i] = text.strip()
            except (CallTimeout, CallCrashed, CallFailed) as err:
                texts[i], reasons[i] = "", _REASONS[type(err)]
                where = batch.column("url")[i].as_py() if "url" in batch.schema.names else f"row {i}"
                log.warning("extract.html: %s: %s (%s)", where, reasons[i], err)
        keep = np.array([bool(t) for t in texts], dtype=bool)
        for i in np.flatnonzero(~keep):
            reasons[i] = reasons[i] or "no_main_text"
        out = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(texts, pa.large_string()))
        out = out.drop_columns(["html"])
        title = pa.array(titles, pa.string())
        if "title" in out.schema.names:
            out = out.set_column(out.schema.get_field_index("title"), "title", title)
        else:
            out = out.append_column("title", title)
        return FilterResult(keep, reasons, out)


def _title_element(page: str) -> str | None:
    """The `<title>` element's text (the engines other than the default find no headline of their own)."""
    found = TITLE.search(page)
    return " ".join(html_lib.unescape(found.group(1)).split()) or None if found else None


_REASONS = {CallTimeout: "extract_timeout", CallCrashed: "extract_crashed", CallFailed: "extract_error"}
