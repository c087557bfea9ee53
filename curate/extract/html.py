"""extract.html: raw HTML bytes -> main text, after charset detection.

The charset declared in the HTTP header is tried first, strictly; pages whose
bytes do not decode with it (a page declared UTF-8 that is Latin-1) get
resiliparse's detector, then UTF-8 and Windows-1252 as fallbacks. Main text
comes from resiliparse (default, fast) or trafilatura (`engine: trafilatura`).
Rows that already have text (WET records) pass through; pages with no main
text are dropped with the reason `no_main_text`.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pyarrow as pa

from curate.engine.step import Filter, FilterResult, Params, register

CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


class HtmlParams(Params):
    engine: Literal["resiliparse", "trafilatura"] = "resiliparse"
    main_content: bool = True  # only the main content, not menus, footers and boilerplate


def decode_html(html: bytes, content_type: str | None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    declared = CHARSET.search(content_type or "")
    if declared:
        try:
            return html.decode(declared.group(1))
        except (UnicodeDecodeError, LookupError):
            pass
    return bytes_to_str(html, detect_encoding(html), fallback_encodings=("utf-8", "cp1252"))


@register("extract.html")
class ExtractHtml(Filter):
    """Decode each page's bytes and extract its main text into `text`; the `html` column is dropped."""

    Params = HtmlParams
    needs = {"html": pa.large_binary(), "content_type": pa.string()}
    adds = {"text": pa.large_string()}
    removes = ("html",)

    def setup(self) -> None:
        if self.params.engine == "resiliparse":
            from resiliparse.extract.html2text import extract_plain_text

            main = self.params.main_content
            self.extract = lambda page: extract_plain_text(page, main_content=main, alt_texts=False)
        else:
            import trafilatura

            precision = self.params.main_content
            self.extract = lambda page: trafilatura.extract(page, favor_precision=precision,
                                                            include_comments=False) or ""

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        pages = batch.column("html").to_pylist()
        types = batch.column("content_type").to_pylist()
        texts = batch.column("text").to_pylist()
        for i, (page, content_type) in enumerate(zip(pages, types)):
            if page is not None:
                texts[i] = self.extract(decode_html(page, content_type)).strip()
        keep = np.array([bool(t) for t in texts], dtype=bool)
        reasons = np.where(keep, None, "no_main_text").astype(object)
        out = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(texts, pa.large_string()))
        out = out.drop_columns(["html"])
        return FilterResult(keep, reasons, out)
