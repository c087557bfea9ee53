"""provenance.license: each document's licence (an SPDX id or `unknown`), the evidence for it and how
much that evidence says.

Where the evidence is read: in a page's HTML, so for web input this step goes *before* `extract.html`
(which drops the markup) and reads the `html` column; rows without HTML (WET records, JSONL, Parquet,
PDF text) are read as code or prose. The evidence kinds and their confidence are listed in
provenance/evidence.py; the strongest found wins, and below `min_confidence` the licence is `unknown`
with the weak evidence still named (a CC link in a photo caption licenses the photo, not the page).

A licence the input declares (`input.license: CC-BY-4.0` for a folder, `input.license_field` for a
column of the input; the readers add a `license` column) is the fallback where a document shows no
evidence of its own (`input_wins: true`: it wins over the document's). The pdf reader's `license_url`
and `rights` columns (XMP / Info) and the warc reader's `http_headers` (`Link: <...>; rel="license"`,
with `input.http_headers: [Link]`) are read where present.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Params, Step, register
from provenance.evidence import (
    CONFIDENCE,
    STATEMENT,
    UNKNOWN,
    Evidence,
    in_code,
    in_text,
    license_from_name,
    license_from_url,
    spdx,
    unescape,
)

log = logging.getLogger("gristmill")

TRIGGER = re.compile(
    rb"rel\s*=\s*[\"']?[^\"'>]*\blicense|creativecommons\.org/(?:licenses|publicdomain)/|licensebuttons\.net/[lp]/|"
    rb"gnu\.org/(?:licenses|copyleft)/|apache\.org/licenses/|mozilla\.org/(?:en-us/)?mpl/|opensource\.org/licenses?/|"
    rb"spdx\.org/licenses/|\"license\"\s*:|<(?:cc:)?license\s|"
    rb"(?:name|property)\s*=\s*[\"']?(?:dc|dcterms|dct)[.:](?:rights|license)|"
    rb"(?:name|property)\s*=\s*[\"']?(?:cc:)?license[\"'\s>]|"
    rb"(?:licen[cs]ed|released|published|available|distributed)\s+under\s|"
    rb"(?:steht|stehen)\s+unter\s|sous\s+(?:la\s+)?licence\s|bajo\s+(?:una\s+|la\s+)?licencia\s")
LISTED = 3  # different licences in badges and links that make a page a list of licences
MAX_MATCHES = 300  # places looked at per page (real pages: a few dozen at most)
# Every TRIGGER match holds one of these.
ANCHORS = (b"licen", b"publicdomain", b"copyleft", b"rights", b"/mpl/", b"under", b"unter")
ATTR = re.compile(rb"([a-z_:.-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)")
TAG_NAME = re.compile(rb"<([a-z][a-z0-9:]*)")
TAGS = re.compile(rb"<[^>]*>")
URL_HOSTS = (b"creativecommons.org", b"licensebuttons.net", b"gnu.org", b"apache.org", b"mozilla.org",
             b"opensource.org", b"spdx.org")
HREF = re.compile(rb"href\s*=\s*[\"']?([^\"'\s>]+)")
META_NAMES = {"dc.rights", "dcterms.rights", "dcterms.license", "dc.license", "dct.license", "dc:rights",
              "dcterms:license", "dcterms:rights", "dct:license", "license", "cc:license"}
# What a licence covers, read from the element it sits in (its tag-stripped text run and up to three
# enclosing blocks), never from URLs near it: an image credit, a script's or font's licence, or the page.
RUN_EDGE = re.compile(rb"<(?:/?(?:div|section|aside|figure|figcaption|footer|header|li|ul|ol|td|th|tr|table|"
                      rb"article|dl|dd|dt|blockquote|p|h[1-6]|nav|main|body)\b)[^>]*>")
CONTAINER = re.compile(rb"<(/?)(div|section|aside|figure|figcaption|footer|li|td|dd|blockquote|article|span)\b([^>]*)>")
MEDIA_WORDS = re.compile(
    r"\b(?:fotos?|photos?|photograph(?:s|y|er)?|bild|bilder|bildnachweis|bildquellen?|bildrechte|titelbild|"
    r"beitragsbild|headerbild|images?|pictures?|illustrations?|grafik(?:en)?|graphics?|artwork|musik|music|"
    r"songs?|audio|sounds?|soundtrack|jingle|videos?|credits?|own work|eigenes werk|flickr|unsplash|pixabay|"
    r"wikimedia commons)\b")
MEDIA_HOSTS = re.compile(rb"flickr\.com|unsplash\.com|pixabay\.com|commons\.wikimedia\.org|freesound\.org|"
                         rb"soundcloud\.com|bandcamp\.com|jamendo\.com|freemusicarchive\.org")
MEDIA_CLASS = re.compile(rb"caption|(?:photo|foto|image|img|bild|media|picture|music|audio)[\w-]*"
                         rb"(?:credit|licen|source|info|nachweis)|bildnachweis|bildquelle|license-info")
ASSET_WORDS = re.compile(
    r"\b(?:lightbox\d*|fancybox|slimbox|colorbox|thickbox|jquery[\w.-]*|bootstrap|font ?awesome|fonts?|"
    r"typeface|icons?|icon set|emoji|themes?|templates?|plugins?|scripts?|librar(?:y|ies)|frameworks?|software|"
    r"source code|code|[\w-]+\.(?:js|css))\b")
# Words that make a statement cover the page's text, whatever else it also names ("text and images").
CONTENT_WORDS = re.compile(
    r"\b(?:text|texts|texte|textes|inhalte?|content|contents|articles?|artikel|beitr[äa]ge?|posts?|writings?|"
    r"docs|documentation|dokumentation|this work|dieses werk|diese seite|this page|this site|this website|"
    r"diese website|dieser website|this blog|dieses blogs?|everything|alles)\b")
BADGE_IMG = re.compile(rb"<img[^>]*(?:creative ?commons|88x31|80x15|\bcc[ _-]|licen[cs]e|lizenz)")
LINK_HEADER = re.compile(r"<([^>]+)>\s*;[^,]*\brel\s*=\s*\"?[^\",]*\blicense\b", re.IGNORECASE)


class LicenseParams(Params):
    min_confidence: float = Field(0.5, ge=0, le=1)  # weaker evidence leaves the licence `unknown` (still named)
    input_wins: bool = False  # the input's declared licence wins over what a document shows


@register("provenance.license")
class LicenseStep(Step):
    """Adds `license` (SPDX id or `unknown`), `license_evidence` (kind: what was read) and
    `license_confidence` (null where unknown)."""

    Params = LicenseParams
    needs = {"source": pa.string()}
    adds = {"license": pa.string(), "license_evidence": pa.string(), "license_confidence": pa.float32()}

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        names = set(batch.schema.names)
        n = batch.num_rows

        def column(name: str) -> list:
            return batch.column(name).to_pylist() if name in names else [None] * n

        pages, texts, headers = column("html"), column("text"), column("http_headers")
        declared, urls, rights = column("license"), column("license_url"), column("rights")
        licenses, evidence = [UNKNOWN] * n, [None] * n
        confidence = np.full(n, np.nan, dtype=np.float32)
        errors = np.zeros(n, dtype=np.int64)
        for i in range(n):
            try:
                found = document_evidence(pages[i], texts[i], headers[i], urls[i], rights[i])
            except Exception as err:  # noqa: BLE001 - one odd document must not stop the run
                self.failed(err)
                errors[i] = 1
                log.warning("provenance.license: row %d: %s: %s", i, type(err).__name__, err)
                found = []
            given = _declared(declared[i])
            best = choose(found, given, self.params.input_wins)
            if best is None:
                continue
            evidence[i] = best.describe()
            if best.confidence >= self.params.min_confidence:
                licenses[i], confidence[i] = best.license, best.confidence
            else:
                evidence[i] += f" (below min_confidence {self.params.min_confidence:g})"
        known = np.array([lic != UNKNOWN for lic in licenses])
        self.count("licensed", known)
        self.count("unknown", ~known)
        if errors.any():
            self.count("errors", errors)
        out = {"license": pa.array(licenses, pa.string()), "license_evidence": pa.array(evidence, pa.string()),
               "license_confidence": pa.array(confidence, pa.float32(), mask=np.isnan(confidence))}
        for name, values in out.items():
            at = batch.schema.get_field_index(name)
            batch = batch.set_column(at, name, values) if at >= 0 else batch.append_column(name, values)
        return batch


def _declared(value) -> Evidence | None:
    """The input's licence for this row as evidence: an SPDX id, or a licence's URL or name."""
    if value is None or not str(value).strip() or str(value).strip().lower() in ("unknown", "other", "none", "n/a"):
        return None
    value = str(value).strip()
    found = spdx(value) or license_from_url(value) or license_from_name(value)
    return Evidence(found or "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", value).strip("-"), "input", value)


def choose(found: list[Evidence], declared: Evidence | None, input_wins: bool) -> Evidence | None:
    """The strongest evidence (the first in the document among equals); the input's declared licence
    where a document shows none as strong as `min_confidence`, or always with `input_wins`."""
    if declared is not None and (input_wins or not found or max(e.confidence for e in found) < CONFIDENCE["link"]):
        return declared
    return min(found, key=lambda e: (-e.confidence, e.at)) if found else None


def document_evidence(page: bytes | None, text: str | None, headers: str | None = None,
                      license_url: str | None = None, rights: str | None = None) -> list[Evidence]:
    """Every piece of licence evidence in one document: its HTML (else its text), HTTP headers and PDF
    metadata."""
    found = in_html(page) if page else in_text(text) if text else []
    for m in LINK_HEADER.finditer(headers or ""):
        if lic := license_from_url(m.group(1)):
            found.append(Evidence(lic, "link_header", m.group(0).strip(), -1))
    if license_url and (lic := license_from_url(license_url) or spdx(license_url)):
        found.append(Evidence(lic, "pdf_metadata", license_url.strip(), -1))
    if rights and (lic := license_from_url(rights) or license_from_name(rights)):
        found.append(Evidence(lic, "pdf_rights", " ".join(rights.split())[:200], -1))
    return found


def in_html(page: bytes) -> list[Evidence]:
    """Licence evidence in a page's markup: link/meta/JSON-LD/RDF, rel=license anchors, badges, licence
    statements in the visible text; links in captions and photo credits count as media credits."""
    low = page.lower()
    found: list[Evidence] = []
    seen_tags: set[int] = set()
    for k, m in enumerate(_triggers(low)):
        if k >= MAX_MATCHES:  # a page that repeats licence words thousands of times: enough has been read
            break
        pos = m.start()
        if _inside(low, pos, b"<!--", b"-->") and not m.group(0).startswith(b"<"):
            continue  # commented-out markup, a CMS's own licence; but CC's RDF was embedded in comments
        lt = low.rfind(b"<", max(0, pos - 4096), pos + 1)
        gt = low.rfind(b">", max(0, lt), pos)
        if lt >= 0 and gt < 0:  # the match is inside a tag
            if lt in seen_tags:
                continue
            seen_tags.add(lt)
            end = low.find(b">", pos)
            evidence = _from_tag(page, low, lt, end + 1 if end >= 0 else len(low))
        else:
            evidence = _from_text(page, low, m)
        if evidence is not None:
            found.append(evidence)
    return _listed(found)


def _listed(found: list[Evidence]) -> list[Evidence]:
    """A page that shows LISTED or more different licences in badges and bare links lists or explains
    licences (a licence chooser, a guide to CC) rather than declaring one: those become `listed`; its
    statements, rel=license markup and metadata still count."""
    shown = {e.license for e in found if e.kind in ("badge", "link")}
    if len(shown) < LISTED:
        return found
    return [Evidence(e.license, "listed", e.snippet, e.at) if e.kind in ("badge", "link") else e for e in found]


def _triggers(low: bytes):
    """TRIGGER's matches, searched only in windows round a few literals every match holds (bytes.find is
    ~50x faster than a regex alternation over a whole 100 KB page)."""
    windows = []
    for anchor in ANCHORS:
        at = low.find(anchor)
        while at >= 0:
            windows.append((max(0, at - 120), at + 80))
            at = low.find(anchor, at + len(anchor))
    windows.sort()
    merged: list[list[int]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        yield from TRIGGER.finditer(low, start, min(end, len(low)))


def _inside(low: bytes, pos: int, start: bytes, end: bytes) -> bool:
    opened = low.rfind(start, 0, pos)
    return opened >= 0 and low.rfind(end, opened, pos) < 0


def _attrs(tag: bytes) -> dict[str, str]:
    return {k.decode("ascii", "replace"): unescape(v.strip(b"\"'").decode("utf-8", "replace"))
            for k, v in ATTR.findall(tag)}


def _from_tag(page: bytes, low: bytes, lt: int, gt: int) -> Evidence | None:
    tag = low[lt:gt]
    name = TAG_NAME.match(tag)
    name = name.group(1).decode() if name else ""
    attrs = _attrs(page[lt:gt])
    attrs = {k.lower(): v for k, v in attrs.items()}
    rel = attrs.get("rel", "").lower().split() + attrs.get("property", "").lower().split()
    licensed = bool({"license", "cc:license", "dct:license", "dcterms:license", "copyright"} & set(rel))
    href = attrs.get("href") or attrs.get("resource") or attrs.get("rdf:resource") or ""
    if name == "meta":
        key = (attrs.get("name") or attrs.get("property") or "").lower()
        content = attrs.get("content", "")
        if key in META_NAMES and content:
            lic = license_from_url(content) or license_from_name(content)
            return Evidence(lic, "meta", f"{key}={content}"[:200], lt) if lic else None
        return None
    if name in ("license", "cc:license"):  # RDF: <license rdf:resource="...">
        lic = license_from_url(href)
        return Evidence(lic, "rdf", href, lt) if lic else None
    if name == "img":
        lic = license_from_url(attrs.get("src", ""))
        return _placed(low, lt, gt, Evidence(lic, "badge", attrs.get("src", ""), lt)) if lic else None
    if not href:
        return None
    lic = license_from_url(href)
    if lic is None and licensed:  # rel=license to a site's own licence page: its anchor text may name it
        close = low.find(b"</a", gt, gt + 400)
        anchor = TAGS.sub(b" ", page[gt:close]).decode("utf-8", "replace") if close > 0 else ""
        lic = license_from_name(unescape(anchor))
    if lic is None:
        return None
    if name == "link":
        return Evidence(lic, "link_rel" if licensed else "link", href, lt)
    close = low.find(b"</a", gt, gt + 600)
    if close > 0 and BADGE_IMG.search(low, gt, close):
        return _placed(low, lt, gt, Evidence(lic, "badge", href, lt))
    if licensed:
        return _placed(low, lt, gt, Evidence(lic, "a_rel", href, lt))
    before = TAGS.sub(b" ", low[max(0, lt - 300):lt])
    stated = STATEMENT.search(before.decode("utf-8", "replace")[-120:])
    return _placed(low, lt, gt, Evidence(lic, "statement" if stated else "link", href, lt))


def _placed(low: bytes, lt: int, gt: int, evidence: Evidence) -> Evidence:
    """The evidence, or a media or asset credit where the element it sits in says it licenses an image,
    a piece of music, a script, a font or a theme rather than the page."""
    scope = _scope(low, lt, gt)
    if scope is None:
        return evidence
    return Evidence(evidence.license, scope, evidence.snippet, evidence.at)


def _text(raw: bytes) -> str:
    return unescape(" ".join(TAGS.sub(b" ", raw).decode("utf-8", "replace").split()))


def _scope(low: bytes, lt: int, gt: int) -> str | None:
    """`media_credit`, `asset_credit` or None (the page) for a licence at low[lt:gt]: read from the text
    run it sits in (between block tags), and the class and leading words of up to three enclosing blocks."""
    edges = list(RUN_EDGE.finditer(low, max(0, lt - 600), lt))
    start = edges[-1].end() if edges else max(0, lt - 600)
    edge = RUN_EDGE.search(low, gt, gt + 600)
    end = edge.start() if edge else min(len(low), gt + 600)
    before, after = low[start:lt], low[gt:end]
    after_text = _text(after)[:200]
    run = f"{_text(before)[-200:]} {after_text}"
    content = CONTENT_WORDS.search(run)
    if not content and ASSET_WORDS.search(run[:len(run) - len(after_text)]):  # the asset named before the link
        return "asset_credit"
    if not content and (MEDIA_WORDS.search(run) or MEDIA_HOSTS.search(before[-300:]) or MEDIA_HOSTS.search(after[:300])):
        return "media_credit"
    for tag in _enclosing(low, lt):
        name, attrs = tag.group(2), tag.group(3)
        if name in (b"figure", b"figcaption") or MEDIA_CLASS.search(b" ".join(v for k, v in ATTR.findall(attrs)
                                                                                if k in (b"class", b"id"))):
            return "media_credit"
        leading = _text(low[tag.end():lt])
        if len(leading) <= 400 and MEDIA_WORDS.search(leading[:40]) and not CONTENT_WORDS.search(leading[:40]):
            return "media_credit"  # a block labelled "Musik:", "Credits", "Fotos:" that the link sits in
    return None


def _enclosing(low: bytes, pos: int, levels: int = 3, reach: int = 3000) -> list[re.Match]:
    """The opening tags of the (up to `levels`) block elements open at `pos`, innermost first."""
    depth: dict[bytes, int] = {}
    found = []
    for m in reversed(list(CONTAINER.finditer(low, max(0, pos - reach), pos))):
        name = m.group(2)
        if m.group(1):
            depth[name] = depth.get(name, 0) + 1
        elif depth.get(name, 0):
            depth[name] -= 1
        else:
            found.append(m)
            if len(found) == levels:
                break
    return found


def _from_text(page: bytes, low: bytes, m: re.Match) -> Evidence | None:
    """A match in text: JSON-LD `"license": ...`, or a licence statement naming its licence."""
    pos = m.start()
    if _inside(low, pos, b"<script", b"</script"):
        script = low.rfind(b"<script", 0, pos)
        if not m.group(0).startswith(b'"license"') or b"ld+json" not in low[script:low.find(b">", script)]:
            return None
        value = re.match(rb"\"license\"\s*:\s*(?:\"([^\"]{1,300})\"|\{[^}]{0,400}?\"(?:url|@id|name)\"\s*:\s*\"([^\"]{1,300})\")",
                         page[pos:pos + 800], re.IGNORECASE)
        if not value:
            return None
        raw = (value.group(1) or value.group(2)).decode("utf-8", "replace").replace("\\/", "/")
        lic = license_from_url(raw) or license_from_name(raw) or spdx(raw)
        return Evidence(lic, "json_ld", raw[:200], pos) if lic else None
    if _inside(low, pos, b"<style", b"</style") or m.group(0).startswith((b'"license"', b"rel", b"<")):
        return None
    if m.group(0).startswith(URL_HOSTS):  # a licence URL in text
        url = re.match(rb"[^\s<>\"']+", low[pos:pos + 300]).group(0).decode("utf-8", "replace")
        lic = license_from_url(url)
        return _placed(low, pos, pos, Evidence(lic, "link", url, pos)) if lic else None
    if any(license_from_url(h.decode("utf-8", "replace")) for h in HREF.findall(low, pos, pos + 400)):
        return None  # the licence's link that follows is read as a tag, with this statement before it
    following = TAGS.sub(b" ", page[pos:pos + 600]).decode("utf-8", "replace")
    following = unescape(" ".join(following.split()))[:220]
    lic = license_from_name(following[len(m.group(0)) - 1:])
    if lic is None:
        return None
    return _placed(low, pos, pos, Evidence(lic, "statement", following[:200], pos))


__all__ = ["LicenseStep", "document_evidence", "in_code", "in_html", "in_text"]
