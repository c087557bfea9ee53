"""provenance.optout: text-and-data-mining opt-out and reservation signals, per document, in a
`tdm_opt_out` column (null where none); `drop: true` removes such documents (reason `tdm_opt_out`).

Signals read (each named in the column as `kind=value`, several joined by `; `):
- `robots_meta`: `noai` / `noimageai` in `<meta name="robots">` (or a meta named for one of `agents`);
- `tdm_meta`: `<meta name="tdm-reservation" content="1">` (TDM Reservation Protocol), with its
  `tdm-policy` URL where the page gives one;
- `x_robots_tag` and `tdm_header`: the same in HTTP response headers, from the warc reader's
  `http_headers` column (`input.http_headers: [X-Robots-Tag, TDM-Reservation, TDM-Policy]`);
- `robots_txt`: the URL's path is disallowed for one of `agents` by that host's robots.txt, read from
  the robots.txt responses in the WARC files `robots_txt` names (Common Crawl keeps them in its own
  `robotstxt/` WARCs). Only groups naming an agent count (`User-agent: *` blocks crawling, not AI use).

HTML is read before `extract.html` drops it: put this step before extraction.
"""

from __future__ import annotations

import glob
import re
import urllib.robotparser
from urllib.parse import quote, urlsplit

import numpy as np
import pyarrow as pa

from curate.engine.step import Filter, FilterResult, Params, register

AI_AGENTS = ["GPTBot", "ChatGPT-User", "CCBot", "Google-Extended", "anthropic-ai", "ClaudeBot", "Claude-Web",
             "Applebot-Extended", "Bytespider", "PerplexityBot", "cohere-ai", "meta-externalagent", "Diffbot",
             "Omgilibot", "Amazonbot"]
META = re.compile(rb"<meta\s[^>]*>", re.IGNORECASE)
ATTR = re.compile(rb"([a-z_:.-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
NOAI = re.compile(r"\b(noai|noimageai)\b", re.IGNORECASE)


class OptOutParams(Params):
    drop: bool = False  # remove documents that carry a signal (else only tag them)
    http_headers: bool = True  # read the warc reader's `http_headers` column; its absence on HTML rows is an error
    robots_txt: list[str] = []  # WARC files (globs) whose robots.txt responses apply to the documents' hosts
    agents: list[str] = AI_AGENTS  # user agents whose robots.txt disallow (or robots meta) counts as an opt-out


@register("provenance.optout")
class OptOut(Filter):
    """Adds `tdm_opt_out` (the signals found, or null); drops those documents with `drop: true`."""

    Params = OptOutParams
    needs = {"url": pa.string()}
    adds = {"tdm_opt_out": pa.string()}

    @classmethod
    def check(cls, p: OptOutParams) -> None:
        for pattern in p.robots_txt:
            if not glob.glob(pattern):
                raise ValueError(f"robots_txt: {pattern!r} matches no files")

    def setup(self) -> None:
        self.meta_names = {b"robots"} | {a.lower().encode() for a in self.params.agents}
        self.robots = read_robots([f for p in self.params.robots_txt for f in sorted(glob.glob(p))])

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        names, n = set(batch.schema.names), batch.num_rows
        pages = batch.column("html").to_pylist() if "html" in names else [None] * n
        if self.params.http_headers and "html" in names and "http_headers" not in names:
            raise ValueError("provenance.optout: WARC input without HTTP headers: set input.http_headers: "
                             "[X-Robots-Tag, TDM-Reservation, TDM-Policy] (or http_headers: false on this step)")
        headers = batch.column("http_headers").to_pylist() if "http_headers" in names else [None] * n
        urls = batch.column("url").to_pylist()
        found = [None] * n
        for i in range(n):
            signals = [*html_signals(pages[i], self.meta_names), *header_signals(headers[i]),
                       *self.robots_signals(urls[i])]
            found[i] = "; ".join(dict.fromkeys(signals)) or None
        marked = np.array([f is not None for f in found])
        self.count("opt_out", marked)
        keep = ~marked if self.params.drop else np.ones(n, dtype=bool)
        reasons = np.where(marked, "tdm_opt_out", None).astype(object)
        column = pa.array(found, pa.string())
        at = batch.schema.get_field_index("tdm_opt_out")
        out = batch.set_column(at, "tdm_opt_out", column) if at >= 0 else batch.append_column("tdm_opt_out", column)
        return FilterResult(keep, reasons, out)

    def robots_signals(self, url: str | None) -> list[str]:
        if not self.robots or not url:
            return []
        try:
            parts = urlsplit(url)
        except ValueError:
            return []
        parser = self.robots.get((parts.hostname or "").lower())
        if parser is None:
            return []
        path = quote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return [f"robots_txt={agent}" for agent in self.params.agents
                if any(e.applies_to(agent) and not e.allowance(path) for e in parser.entries)]


def html_signals(page: bytes | None, meta_names: set[bytes]) -> list[str]:
    """`noai`/`noimageai` robots meta and TDM Reservation Protocol meta in a page's head."""
    if not page:
        return []
    low = page[:262144].lower()  # meta elements live in the head
    if b"noai" not in low and b"noimageai" not in low and b"tdm-" not in low:
        return []
    signals, policy, reserved = [], None, False
    for tag in META.findall(low):
        attrs = {k.lower(): v.strip(b"\"'") for k, v in ATTR.findall(tag)}
        name, content = attrs.get(b"name", b""), attrs.get(b"content", b"").decode("utf-8", "replace")
        if name in meta_names and (hits := NOAI.findall(content)):
            signals.append(f"robots_meta={','.join(h.lower() for h in hits)}")
        elif name == b"tdm-reservation" and content.strip() == "1":
            reserved = True
        elif name == b"tdm-policy" and content.strip():
            policy = content.strip()
    if reserved:
        signals.append("tdm_meta=1" + (f" policy={policy}" if policy else ""))
    return signals


def header_signals(headers: str | None) -> list[str]:
    """`X-Robots-Tag: noai` / `noimageai` (also `agent: noai`) and `TDM-Reservation: 1` headers."""
    if not headers:
        return []
    signals, policy, reserved = [], None, False
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "x-robots-tag" and (hits := NOAI.findall(value)):
            signals.append(f"x_robots_tag={','.join(h.lower() for h in hits)}")
        elif name == "tdm-reservation" and value == "1":
            reserved = True
        elif name == "tdm-policy" and value:
            policy = value
    if reserved:
        signals.append("tdm_header=1" + (f" policy={policy}" if policy else ""))
    return signals


def read_robots(paths: list[str]) -> dict[str, urllib.robotparser.RobotFileParser]:
    """host -> its robots.txt, from the HTTP 200 responses for `/robots.txt` in these WARC files."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    robots = {}
    for path in paths:
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                url = (record.headers.get("WARC-Target-URI") or "").strip("<> ")
                parts = urlsplit(url)
                if parts.path != "/robots.txt" or record.http_headers is None or record.http_headers.status_code != 200:
                    continue
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(record.reader.read(1 << 20).decode("utf-8", "replace").splitlines())
                robots.setdefault((parts.hostname or "").lower(), parser)
    return robots
