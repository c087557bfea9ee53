"""Licence evidence: licence URLs, names and SPDX expressions -> SPDX ids, and the places in a page,
a code file or a text where a licence is stated, each with how much it says about the document.

Used by `provenance.license` (provenance/license.py). Everything here works on lowercased bytes or
text and looks only near the few places a cheap search finds (`licen`, `creativecommons`, ...), so a
page without any costs one pass of `bytes.lower()` and a regex scan.

Evidence kinds and their confidence (the strongest wins; equal ones: the first in the document):

| kind | where | confidence |
| --- | --- | --- |
| `spdx` | `SPDX-License-Identifier:` in code or text | 0.99 |
| `link_header` | HTTP `Link: <URL>; rel="license"` (WARC `input.http_headers: [Link]`) | 0.95 |
| `link_rel` | `<link rel="license" href>` in the page head | 0.95 |
| `meta` | `dcterms.license`, `dc.rights`, `license`, `cc:license` meta naming a licence | 0.9 |
| `json_ld` | schema.org `"license"` in JSON-LD | 0.9 |
| `rdf` | `<license rdf:resource>` (the RDF CC's licence chooser embedded) | 0.9 |
| `pdf_metadata` | XMP `license_url` (the pdf reader's column); `rights` naming a licence: 0.8 | 0.9 |
| `license_header` | a licence's own header text in code (Apache, MIT, BSD, GPL, MPL, ...) | 0.9 |
| `a_rel` | `<a rel="license" href>` in the body | 0.9 |
| `badge` | a CC badge image (`i.creativecommons.org/l/...`, licensebuttons.net) | 0.85 |
| `statement` | "licensed / published / available under" + a licence link or name | 0.8 |
| `link` | a bare link to a licence, no statement round it | 0.5 |
| `media_credit` | any of these whose element credits media: in a figure or caption, in a block labelled "Fotos:", "Musik:", "Credits", or in a text run naming images, photos or music and not the page's text | 0.3 |
| `asset_credit` | any of these in a text run naming a script, library, font, icon set, theme or template (Lightbox2 (c) X licensed under CC BY): it licenses the site's code | 0.3 |
| `listed` | a badge or bare link on a page showing three or more different licences that way: the page lists or explains licences | 0.3 |
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from dataclasses import dataclass

CONFIDENCE = {"spdx": 0.99, "link_header": 0.95, "link_rel": 0.95, "meta": 0.9, "json_ld": 0.9, "rdf": 0.9,
              "pdf_metadata": 0.9, "license_header": 0.9, "a_rel": 0.9, "input": 0.9, "badge": 0.85,
              "statement": 0.8, "pdf_rights": 0.8, "link": 0.5, "media_credit": 0.3,
              "asset_credit": 0.3, "listed": 0.3}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    license: str  # an SPDX id or expression
    kind: str
    snippet: str  # what was read: the URL, the meta content, the statement
    at: int = 0  # where in the document (bytes or characters), to break ties in reading order

    @property
    def confidence(self) -> float:
        return CONFIDENCE[self.kind]

    def describe(self) -> str:
        return f"{self.kind}: {self.snippet}"[:240]


# --- SPDX ids -------------------------------------------------------------------------------------

@functools.cache
def spdx(expression: str) -> str | None:
    """`expression` as canonical SPDX (`mit or apache-2.0` -> `MIT OR Apache-2.0`), or None where it is
    not one (packaging ships the SPDX licence list)."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    try:
        return canonicalize_license_expression(expression.strip())
    except (InvalidLicenseExpression, ValueError, TypeError):
        return None


CC_KINDS = {"by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd", "by-nd-nc", "by-sa-nc"}
CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/?(\d\.\d)?/?([a-z]{2}(?:-[a-z]{2})?)?(?=[/\"'?#<>\s]|$)")
CC_BADGE = re.compile(r"(?:i\.creativecommons\.org|licensebuttons\.net)/(l|p)/([a-z-]+)/(\d\.\d)/?([a-z]{2}(?:-[a-z]{2})?)?/")
GNU_URL = re.compile(r"gnu\.org/(?:licenses|copyleft)/(fdl|gpl|lgpl|agpl|lesser)(?:-(\d\.\d))?")
OTHER_URLS = (
    (re.compile(r"apache\.org/licenses/license-2\.0"), "Apache-2.0"),
    (re.compile(r"mozilla\.org/(?:en-us/)?mpl/2\.0"), "MPL-2.0"),
    (re.compile(r"opensource\.org/licenses?/([a-z0-9.+-]+?)(?:\.php|\.html)?(?=[/\"'?#<>\s]|$)"), None),
    (re.compile(r"spdx\.org/licenses/([a-z0-9.+-]+?)(?:\.html|\.json)?(?=[/\"'?#<>\s]|$)"), None),
    (re.compile(r"docs\.python\.org/[^\"'<>\s]*license\.html"), "PSF-2.0"),
)
LATEST_GNU = {"fdl": "1.3", "gpl": "3.0", "lgpl": "3.0", "agpl": "3.0", "lesser": "3.0"}


def cc_id(family: str, kind: str, version: str | None, port: str | None) -> str | None:
    """A Creative Commons licence as SPDX: `licenses/by-sa/3.0/de` -> CC-BY-SA-3.0-DE where SPDX lists
    the port, else the unported CC-BY-SA-3.0; no version: 4.0, where CC's own versionless URLs lead."""
    if family in ("publicdomain", "p"):
        return {"zero": "CC0-1.0", "mark": "CC-PDM-1.0"}.get(kind)
    kind = {"by-nd-nc": "by-nc-nd", "by-sa-nc": "by-nc-sa"}.get(kind, kind)
    if kind not in CC_KINDS:
        return None
    base = f"CC-{kind.upper()}-{version or '4.0'}"
    if port and port not in ("deed", "legalcode"):
        ported = spdx(f"{base}-{port.split('-')[0]}")
        if ported:
            return ported
    return spdx(base)


def license_from_url(url: str) -> str | None:
    """The SPDX id a licence URL names (CC, GNU, Apache, MPL, opensource.org, spdx.org), or None."""
    url = url.lower()
    if found := CC_URL.search(url):
        return cc_id(*found.groups())
    if found := CC_BADGE.search(url):
        return cc_id(*found.groups())
    if found := GNU_URL.search(url):
        name, version = found.group(1), found.group(2)
        name = "lgpl" if name == "lesser" else name
        return spdx(f"{name.upper().replace('FDL', 'GFDL')}-{version or LATEST_GNU[name]}-or-later")
    for pattern, fixed in OTHER_URLS:
        if found := pattern.search(url):
            return fixed or spdx(found.group(1))
    if "wikipedia.org/wiki/" in url and "creative_commons" in url:  # Wikipedia:Text_of_Creative_Commons_...
        return license_from_name(url.rsplit("/", 1)[-1].replace("_", " "))
    return None


# --- licence names in prose -----------------------------------------------------------------------

CC_NAME = re.compile(
    r"\b(?:creative\s+commons|cc)[\s-]*((?:(?:by|nc|nd|sa|attribution|namensnennung|paternit[ée]|"
    r"reconocimiento|noncommercial|non-commercial|nichtkommerziell|pas\s+d.utilisation\s+commerciale|"
    r"noderivs|noderivatives|no\s+derivatives|keinebearbeitung|pas\s+de\s+modification|sharealike|share\s+alike|"
    r"weitergabe\s+unter\s+gleichen\s+bedingungen|partage\s+dans\s+les\s+m[êe]mes\s+conditions|compartir\s*igual)"
    r"[\s,/-]*)+)(?:(?:license|licence|lizenz|licencia|unported|international|generic|deed)?[\s,-]*)*"
    r"v?(\d\.\d)?", re.IGNORECASE)
CC_ZERO = re.compile(r"\b(?:cc0|cc\s+zero|creative\s+commons\s+zero)\b", re.IGNORECASE)
CC_PARTS = (("nc", ("nc", "noncommercial", "non-commercial", "nichtkommerziell", "commerciale")),
            ("nd", ("nd", "noderiv", "no deriv", "keinebearbeitung", "modification")),
            ("sa", ("sa", "sharealike", "share alike", "gleichen bedingungen", "mêmes conditions", "memes conditions",
                    "compartir")))
NAMES = (  # (pattern over lowercased prose, SPDX id); the first that matches wins
    (re.compile(r"python software foundation licen[cs]e(?: version 2)?"), "PSF-2.0"),
    (re.compile(r"zero[- ]clause bsd"), "0BSD"),
    (re.compile(r"apache licen[cs]e,? (?:version |v)?2(?:\.0)?"), "Apache-2.0"),
    (re.compile(r"\bmit licen[cs]e|\bthe mit\b"), "MIT"),
    (re.compile(r"mozilla public licen[cs]e,? (?:version |v\. ?)?2\.0"), "MPL-2.0"),
    (re.compile(r"gnu free documentation licen[cs]e(?:,? version (1\.[123]))?"), "GFDL-{}"),
    (re.compile(r"gnu (?:lesser|library) general public licen[cs]e(?:,? (?:version |v)?(2\.1|3))?"), "LGPL-{}"),
    (re.compile(r"gnu affero general public licen[cs]e(?:,? (?:version |v)?(3))?"), "AGPL-{}"),
    (re.compile(r"gnu general public licen[cs]e(?:,? (?:version |v)?([123]))?"), "GPL-{}"),
    (re.compile(r"bsd[- ]3[- ]clause|3-clause bsd|new bsd licen[cs]e"), "BSD-3-Clause"),
    (re.compile(r"bsd[- ]2[- ]clause|2-clause bsd|simplified bsd licen[cs]e"), "BSD-2-Clause"),
    (re.compile(r"\bisc licen[cs]e"), "ISC"),
    (re.compile(r"\bunlicense\b"), "Unlicense"),
)
GNU_DEFAULT = {"GFDL": "1.3", "LGPL": "2.1", "AGPL": "3", "GPL": "2"}


def license_from_name(text: str) -> str | None:
    """The SPDX id a licence's name in prose gives (`Creative Commons Attribution-ShareAlike 3.0`,
    `CC BY-NC 4.0`, `Python Software Foundation License Version 2`), or None."""
    low = " ".join(text.lower().split())
    if CC_ZERO.search(low):
        return "CC0-1.0"
    if found := CC_NAME.search(low):
        words = found.group(1)
        if re.search(r"\b(?:by|attribution|namensnennung|paternit|reconocimiento)", words):
            parts = ["by"] + [p for p, keys in CC_PARTS if any(re.search(rf"(?<![a-z]){k}", words) for k in keys)]
            return cc_id("licenses", "-".join(parts), found.group(2), None)
    for pattern, template in NAMES:
        if found := pattern.search(low):
            if "{}" not in template:
                return template
            family, rest = template.split("-")[0], low[found.end():found.end() + 200]
            stated = re.search(r"either version (\d(?:\.\d)?)|^,? (?:version |v)?(\d(?:\.\d)?)", rest)
            version = found.group(1) or (stated and (stated.group(1) or stated.group(2))) or GNU_DEFAULT[family]
            version = version if "." in version else f"{version}.0"
            later = "or-later" if re.search(r"any later version|or later|^\+", rest) else "only"
            return spdx(f"{family}-{version}-{later}")
    return None


# --- code and plain text --------------------------------------------------------------------------

SPDX_TAG = re.compile(r"spdx-license-identifier:\s*([^\n\r*]{1,200}?)\s*(?:\*/|-->|\r|\n|$)", re.IGNORECASE)
HEADERS = (  # a licence's own header text, as code files carry it
    (re.compile(r"licensed under the apache license,? version 2\.0"), "Apache-2.0"),
    (re.compile(r"permission is hereby granted, free of charge, to any person obtaining a copy"), "MIT"),
    (re.compile(r"this source code form is subject to the terms of the mozilla public license,? v\. ?2\.0"), "MPL-2.0"),
    (re.compile(r"redistribution and use in source and binary forms, with or without\s+modification, are permitted"),
     "BSD"),
    (re.compile(r"under the terms of the gnu (?:lesser |library |affero )?general public license"), "GNU"),
    (re.compile(r"permission to use, copy, modify, and(?:/or)? distribute this software for any\s+purpose with or without fee"),
     "ISC"),
)
STATEMENT = re.compile(
    r"(?:licen[cs]ed|released|published|available|distributed|made available|provided|offered)\s+under\s+|"
    r"(?:steht|stehen|ist|sind|wird|werden)\s+unter\s+(?:einer|der|den)\s+|unter\s+(?:einer|der)\s+|"
    r"(?:steht|stehen)\s+(?:[^\s<>]+\s+){1,4}?unter\s+|"
    r"sous\s+(?:la\s+)?licence\s+|bajo\s+(?:una\s+|la\s+)?licencia\s+|sotto\s+(?:una\s+|la\s+)?licenza\s+|"
    r"(?:lizenziert|lizensiert|veröffentlicht|unterliegen|unterliegt)\s+(?:unter\s+)?(?:einer|der)?\s*(?:lizenz\s*)?|"
    r"licensed\s+as\s+|license:\s*|licence:\s*|lizenz:\s*")


def in_code(text: str, head: int = 16384) -> list[Evidence]:
    """SPDX tags and licence headers in the first `head` characters of code or text."""
    found: list[Evidence] = []
    top = text[:head]
    for m in SPDX_TAG.finditer(top):
        value = m.group(1).strip().strip("\"'").strip()
        if spdx_id := spdx(value):
            found.append(Evidence(spdx_id, "spdx", m.group(0).strip()[:200], m.start()))
    low = " ".join(top.lower().replace("#", " ").replace("//", " ").split())
    for pattern, name in HEADERS:
        if m := pattern.search(low):
            found.append(Evidence(_header_license(name, low, m), "license_header", m.group(0)[:200], m.start()))
    return [e for e in found if e.license]


def _header_license(name: str, low: str, m: re.Match) -> str | None:
    if name == "BSD":
        return "BSD-3-Clause" if "neither the name" in low or "names of its contributors" in low else "BSD-2-Clause"
    if name == "GNU":
        return license_from_name(low[m.start() + 20:m.end() + 200])
    return name


def in_text(text: str, limit: int = 65536) -> list[Evidence]:
    """Licence statements and licence URLs in prose (a WET page's footer, a text file): the first and
    last `limit` characters."""
    low = text.lower()
    if len(low) > 2 * limit:
        low = low[:limit] + "\n" + low[-limit:]
    found = [*in_code(text)]
    for m in STATEMENT.finditer(low):
        tail = low[m.end():m.end() + 160]
        spdx_id = license_from_url(tail[:120]) if "://" in tail[:20] or tail.startswith("www.") else None
        spdx_id = spdx_id or license_from_name(tail)
        if spdx_id:
            found.append(Evidence(spdx_id, "statement", " ".join(low[m.start():m.end() + 100].split()), m.start()))
    for m in re.finditer(r"(?:https?:)?//[^\s\"'<>]*(?:creativecommons\.org/(?:licenses|publicdomain)|gnu\.org/licenses)"
                         r"[^\s\"'<>]*", low):
        if spdx_id := license_from_url(m.group(0)):
            found.append(Evidence(spdx_id, "link", m.group(0), m.start()))
    return found


def unescape(value: str) -> str:
    return html_lib.unescape(value).strip()
