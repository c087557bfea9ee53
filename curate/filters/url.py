"""filter.url: drop documents whose URL is on a block list (domains and their subdomains, or regexes),
before any extraction is spent on them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from curate.engine.step import Filter, FilterResult, Params, register


class UrlParams(Params):
    domains: list[str] = []  # blocked domains; subdomains are blocked too
    domain_files: list[str] = []  # files with one domain per line (# comments allowed)
    patterns: list[str] = []  # regular expressions searched in the whole URL


def _domains_from(path: str) -> set[str]:
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    return {ln.split("#")[0].strip().lower().lstrip(".") for ln in lines if ln.split("#")[0].strip()}


@register("filter.url")
class UrlFilter(Filter):
    """Block by domain (with subdomains) or URL regex; the reason names which rule matched."""

    Params = UrlParams
    needs = {"url": pa.string()}

    @classmethod
    def check(cls, p: UrlParams) -> None:
        for f in p.domain_files:
            if not Path(f).is_file():
                raise ValueError(f"domain_files: {f} does not exist")
        for pattern in p.patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"patterns: {pattern!r} is not a valid regex: {err}") from None

    def setup(self) -> None:
        self.blocked = {d.lower().lstrip(".") for d in self.params.domains}
        for f in self.params.domain_files:
            self.blocked |= _domains_from(f)
        self.pattern = re.compile("|".join(f"(?:{p})" for p in self.params.patterns)) if self.params.patterns else None

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        urls = batch.column("url").to_pylist()
        keep = np.ones(len(urls), dtype=bool)
        reasons = np.full(len(urls), None, dtype=object)
        for i, url in enumerate(urls):
            if not url:
                continue
            host = (urlsplit(url).hostname or "").lower()
            labels = host.split(".")
            if any(".".join(labels[k:]) in self.blocked for k in range(len(labels))):
                keep[i], reasons[i] = False, "url_blocked_domain"
            elif self.pattern is not None and self.pattern.search(url):
                keep[i], reasons[i] = False, "url_blocked_pattern"
        return FilterResult(keep, reasons)
