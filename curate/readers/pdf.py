"""The `pdf` reader: PDFs and page images (PNG, JPEG, TIFF, multi-page TIFF) to documents.

Each page's text layer is read with PDFium (pypdfium2: BSD/Apache, several times pypdf's pages/s on our
measurement), put in visual reading order (`reading_order: layout`, curate/ocr/layout.py: running heads
first, columns one after the other, table rows left to right; `stream` keeps PDFium's content-stream
order) and kept unless curate/ocr/textcheck.py finds it missing or garbage; only those pages are
rendered at `dpi`, turned upright, deskewed and OCR'd (`ocr_engine`: tesseract or rapidocr). An image file
is OCR'd page by page. One document per file (`split: file`), or one per `pages_per_doc` pages
(`split: pages`). Files are told apart by their first bytes, not their names, so a folder of mixed PDFs
and scans reads in one pipeline.

Pages are read in child processes (curate/extract/sandbox.py), `page_workers` of them per input file, each
killed when a page runs past `page_timeout_s` and capped at `max_memory_mb`: a page that loops the parser
or whose image would inflate to gigabytes costs that page (`page_timeout`, `page_crashed`, `page_failed`,
`page_too_large`), never the run. The engine's unit of work stays the input file (its size and hash are
the task's identity); `page_workers` is the page-level parallelism for one large PDF. At most
`2 x page_workers` pages are in flight and a document's text is the only thing that grows, bounded by
`max_doc_mb`, so a 1,000-page PDF reads in bounded memory. A file that is no PDF or image (`not_a_pdf`),
encrypted, truncated past repair (`corrupt_file`), or empty (`zero_pages`) is counted and skipped, and
so is a document with no text at all (`no_text`).

Columns besides the core ones: `pages` ("1-36"), `ocr_pages` (the 1-based pages OCR'd), `ocr_engine`,
`ocr_confidence` (mean over the OCR'd pages, 0..1), `failed_pages`, and the metadata provenance tagging
reads: `title`, `author`, `created`, `modified`, `rights`, `license_url` (Info dictionary and XMP).
`origin` holds the file, the first page as `row`, and the page range as `record_id` ("pages 1-36").
"""

from __future__ import annotations

import functools
import os
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pyarrow as pa
from pydantic import Field

from curate.engine.reader import InputParams, Reader, ReadStats, origin, register
from curate.engine.schema import doc_id
from curate.extract.sandbox import CallCrashed, CallFailed, CallTimeout, Sandbox
from curate.ocr import engines, pages
from curate.ocr.pdfmeta import FIELDS
from curate.ocr.tidy import join_pages

COLUMNS = {"pages": pa.string(), "ocr_pages": pa.list_(pa.int32()), "ocr_engine": pa.string(),
           "ocr_confidence": pa.float32(), "failed_pages": pa.list_(pa.int32()),
           **{name: pa.string() for name in FIELDS}}
FAILURES = {CallTimeout: "page_timeout", CallCrashed: "page_crashed", CallFailed: "page_failed"}


class PdfParams(InputParams):
    split: Literal["file", "pages"] = "file"  # one document per file, or per `pages_per_doc` pages
    pages_per_doc: int = Field(1, gt=0)
    ocr: Literal["auto", "never", "always"] = "auto"  # auto: only pages whose text layer fails the check
    ocr_engine: Literal["auto", "tesseract", "rapidocr"] = "auto"  # auto: tesseract where installed
    reading_order: Literal["layout", "stream"] = "layout"  # text layers: as seen (curate/ocr/layout.py) or as drawn
    languages: str = "eng"  # tesseract's language models, e.g. eng+deu
    dpi: int = Field(300, ge=72, le=600)
    page_timeout_s: float = Field(120, gt=0)
    page_workers: int = Field(1, ge=1, le=64)
    max_pages: int = Field(5000, gt=0)  # a file with more pages is read up to here (counted `pages_cut`)
    max_pixels: int = Field(60_000_000, gt=0)  # a rendered page larger than this is drawn at a lower dpi
    max_memory_mb: int = Field(4096, ge=0)  # per page process (0: no cap)


@register("pdf")
class PdfReader(Reader):
    Params = PdfParams
    extra = COLUMNS

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        cfg: PdfParams = self.params
        opts = {"ocr": cfg.ocr, "engine": engines.resolve(cfg.ocr_engine), "languages": cfg.languages,
                "dpi": cfg.dpi, "max_pixels": cfg.max_pixels, "reading_order": cfg.reading_order}
        pool = page_pool(cfg.page_workers, cfg.page_timeout_s, cfg.max_memory_mb, os.getpid())
        try:
            opened = pool.call(("open", path, opts))
        except tuple(FAILURES) as err:
            stats.problem("corrupt_file" if isinstance(err, CallFailed) else FAILURES[type(err)], path, str(err))
            return
        if "skip" in opened:
            stats.problem(opened["skip"], path, opened.get("detail", ""))
            return
        n = opened["pages"]
        if n == 0:
            stats.problem("zero_pages", path)
            return
        if n > cfg.max_pages:
            stats.problem("pages_cut", path, f"{n} pages; the first {cfg.max_pages} read")
            n = cfg.max_pages
        size = n if cfg.split == "file" else cfg.pages_per_doc
        rows: list[dict] = []
        doc: dict = {}
        for index, result in pool.pages(path, n, opts):
            if index % size == 0:
                doc = {"first": index + 1, "texts": [], "ocr": [], "conf": [], "engine": None, "failed": [],
                       "bytes": 0}
            if "skip" in result or "error" in result:
                stats.problem(result.get("skip") or result["error"], f"{path}#page={index + 1}",
                              result.get("detail", ""))
                doc["failed"].append(index + 1)
            elif doc["bytes"] <= cfg.max_doc_bytes:
                doc["texts"].append(result["text"])
                doc["bytes"] += len(result["text"].encode("utf-8", "replace"))
                if result["ocr_reason"]:
                    doc["ocr"].append(index + 1)
                    doc["conf"].append(result["confidence"])
                    doc["engine"] = result["engine"]
            if index % size == size - 1 or index == n - 1:
                where = f"{path}#pages={doc['first']}-{index + 1}"
                if doc["bytes"] > cfg.max_doc_bytes:
                    stats.problem("doc_too_large", where, f"over {cfg.max_doc_mb:g} MiB of text")
                elif not any(doc["texts"]):
                    stats.problem("no_text", where, "no text layer and nothing OCR could read")
                else:
                    rows.append(self._row(path, doc, index + 1, opened["meta"]))
                if len(rows) >= cfg.batch_size or sum(len(r["text"]) for r in rows) >= cfg.batch_bytes:
                    yield self._batch(path, rows)
                    rows = []
        if rows:
            yield self._batch(path, rows)

    def _row(self, path: str, doc: dict, last: int, meta: dict) -> dict:
        span = f"{doc['first']}-{last}"
        conf = doc["conf"]
        return {"id": doc_id(path, f"pages {span}"), "text": join_pages(doc["texts"]), "source": self.source,
                "url": None, "pages": span, "ocr_pages": doc["ocr"], "ocr_engine": doc["engine"],
                "ocr_confidence": sum(conf) / len(conf) if conf else None, "failed_pages": doc["failed"],
                **meta, "first": doc["first"]}

    def _batch(self, path: str, rows: list[dict]) -> pa.RecordBatch:
        schema = self.schema()
        columns = {name: [r.get(name) for r in rows] for name in schema.names if name not in ("origin", "license")}
        columns["origin"] = origin(pa.repeat(pa.scalar(path), len(rows)), [r["first"] for r in rows],
                                   record_ids=[f"pages {r['pages']}" for r in rows])
        if "license" in schema.names:
            columns["license"] = [self.params.license] * len(rows)
        return pa.RecordBatch.from_pydict({n: columns[n] for n in schema.names}, schema=schema)


class PagePool:
    """`workers` sandboxed page processes, kept for the worker's life (a fresh interpreter costs ~0.3 s,
    more than most small PDFs take to read)."""

    def __init__(self, workers: int, timeout_s: float, max_memory_mb: int):
        self.free: queue.Queue[Sandbox] = queue.Queue()
        for _ in range(workers):
            self.free.put(Sandbox(pages.work, timeout_s, warmup=("limit", max_memory_mb)))
        self.workers = workers
        self.threads = ThreadPoolExecutor(workers) if workers > 1 else None

    def call(self, item: tuple):
        box = self.free.get()
        try:
            return box(item)
        finally:
            self.free.put(box)

    def page(self, item: tuple) -> dict:
        try:
            return self.call(item)
        except tuple(FAILURES) as err:
            return {"error": FAILURES[type(err)], "detail": str(err)[:300]}

    def pages(self, path: str, n: int, opts: dict) -> Iterator[tuple[int, dict]]:
        """Each page's result, in page order, with at most 2 x workers pages in flight."""
        items = (("page", path, i, opts) for i in range(n))
        if self.threads is None:
            yield from enumerate(map(self.page, items))
            return
        window: list = []
        for i, item in enumerate(items):
            window.append((i, self.threads.submit(self.page, item)))
            if len(window) >= 2 * self.workers:
                index, future = window.pop(0)
                yield index, future.result()
        for index, future in window:
            yield index, future.result()


@functools.lru_cache(maxsize=4)
def page_pool(workers: int, timeout_s: float, max_memory_mb: int, pid: int) -> PagePool:
    """One pool per process (`pid`: a forked worker must not use its parent's page processes)."""
    return PagePool(workers, timeout_s, max_memory_mb)
