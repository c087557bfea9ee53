"""filter.datatrove: run any datatrove filter (GopherQualityFilter, C4QualityFilter, ...) over a batch.

datatrove's filters are well tested; this adapter gives them to gristmill
pipelines unchanged, with their own removal reasons. A filter that raises on
a document drops it with the reason `error:<ExceptionName>`, logged; one that
raises on more documents than the pipeline's `error_budget` ends the run.
Model and list files named in the filter's parameters (`*_url`, `*_path`,
`*_file`) must be local files that exist when the pipeline is validated.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.engine.step import Filter, FilterResult, Params, register

log = logging.getLogger("gristmill")


class DatatroveParams(Params):
    name: str  # a class in datatrove.pipeline.filters, e.g. GopherQualityFilter
    params: dict[str, Any] = {}


def _filter_class(name: str):
    from datatrove.pipeline import filters
    from datatrove.pipeline.filters.base_filter import BaseFilter

    cls = getattr(filters, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, BaseFilter)):
        known = sorted(n for n in dir(filters) if inspect.isclass(getattr(filters, n))
                       and issubclass(getattr(filters, n), BaseFilter) and n != "BaseFilter")
        raise ValueError(f"datatrove has no filter {name!r}; known: {', '.join(known)}")
    return cls


@register("filter.datatrove")
class DatatroveFilter(Filter):
    """Any datatrove filter, by class name, with its constructor parameters."""

    Params = DatatroveParams

    @classmethod
    def check(cls, p: DatatroveParams) -> None:
        target = _filter_class(p.name)
        try:
            inspect.signature(target).bind(**p.params)
        except TypeError as err:
            raise ValueError(f"{p.name}: {err}") from None
        for key, value in p.params.items():
            if not (key.endswith(("_url", "_path", "_file")) and isinstance(value, str)):
                continue
            if "://" in value:
                raise ValueError(f"{p.name}: {key}: {value} is a URL; gristmill downloads nothing at run time: "
                                 "give a local file")
            if not Path(value).expanduser().exists():
                raise ValueError(f"{p.name}: {key}: {value} does not exist")

    def setup(self) -> None:
        self.filter = _filter_class(self.params.name)(**self.params.params)
        self.default_reason = self.params.name

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        texts = batch.column("text").to_pylist()
        ids = batch.column("id").to_pylist()
        urls = batch.column("url").to_pylist()
        keep = np.ones(len(texts), dtype=bool)
        reasons = np.full(len(texts), None, dtype=object)
        for i, (text, ident, url) in enumerate(zip(texts, ids, urls)):
            ok, reason = apply_filter(self, self.filter, text, ident, url)
            if not ok:
                keep[i], reasons[i] = False, reason or self.default_reason
        return FilterResult(keep, reasons)


def apply_filter(step: Filter, dt_filter, text: str, ident: str, url: str | None = None) -> tuple[bool, str | None]:
    """One document through a datatrove filter: (keep, reason). A filter that raises drops the
    document with the reason `error:<ExceptionName>`, logged (the engine ends the run if that
    happens to more documents than the error budget allows)."""
    from datatrove.data import Document

    doc = Document(text=text, id=ident, metadata={"url": url} if url else {})
    try:
        result = dt_filter.filter(doc)
    except Exception as err:  # noqa: BLE001 - any failure on one document is counted, not fatal
        log.warning("%s raised %s on document %s", type(dt_filter).__name__, type(err).__name__, ident)
        return False, step.failed(err)
    return result if isinstance(result, tuple) else (result, None)
