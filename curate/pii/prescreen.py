"""The cheap pre-screen: which windows of a document can hold an entity, so that presidio and the NER
model only see those.

Two compiled regexes scan each document once (C speed; `STRUCTURED` needs no Unicode classes, so it
uses the standard library's `re`, 3x faster than `regex` on it with the same matches):

- `STRUCTURED`: every shape a structured entity or secret needs: an `@`, a run of 6+ digits with
  separators, a dotted quad, a hex group with colons (IPv6), a secret's prefix or key word.
- `NAMES`: a run of two or more capitalized words (a person or place name), an honorific, a house
  number before a capitalized word (a street address), or a capitalized word after "in/at/to/from/
  near" (a place).

Each hit becomes a window of `margin` characters either side (so context words reach presidio),
snapped to whitespace; overlapping windows merge. The windows of a document are joined by a blank
line into one short text, and `Windows.to_doc` maps offsets in it back to the document.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import regex

from .secrets import TRIGGERS

_SECRET = "|".join(regex.escape(t) for t in sorted(set(TRIGGERS), key=len, reverse=True))
STRUCTURED = re.compile(
    r"@"
    r"|\d(?:[ \t().\-/+]{0,3}\d){5,}"  # phones, cards, SSNs, IBAN digits
    r"|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"
    r"|\b[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}\b"
    r"|\b[A-Za-z]{2}\d{2}[ ]?[A-Za-z0-9]{4}"  # IBAN head, in either case
    rf"|{_SECRET}"
)
UP = r"\p{Lu}[\p{Ll}\p{Lm}'’\-]+"  # a capitalized word
NAMES = regex.compile(
    rf"{UP}(?:[ \t]+(?:(?:de|da|di|del|della|van|von|der|den|ten|ter|le|la|du|dos|das|y|el|bin|al)[ \t]+)?"
    rf"(?:\p{{Lu}}\.|{UP}))+"
    r"|\b(?:Mr|Mrs|Ms|Miss|Dr|Dra|Prof|Sir|Madame|Mme|Herr|Frau|Sr|Sra|Dott|Ing)\.?[ \t]+\p{Lu}"
    r"|\b\d{1,5}[a-zA-Z]?,?[ \t]+\p{Lu}"
    rf"|\b\p{{Lu}}[\p{{Ll}}]+[ \t]+\d{{1,5}}\b"  # continental street + number
    rf"|\b(?:in|at|to|from|near|of|In|At|To|From|Near)[ \t]+{UP}"
)


@dataclass
class Windows:
    """The windows of one document: their start and end in the document, and their joined text."""

    starts: list[int]
    ends: list[int]
    text: str
    offsets: list[int]  # where each window begins in `text`

    def to_doc(self, pos: int) -> int:
        i = bisect.bisect_right(self.offsets, pos) - 1
        return self.starts[i] + pos - self.offsets[i]


SEP = "\n\n"


def windows(text: str, pattern: re.Pattern, margin: int = 64, max_windows: int = 100_000) -> Windows:
    return windows_at(text, ((m.start(), m.end()) for m in pattern.finditer(text)), margin, max_windows)


def windows_at(text: str, hits, margin: int = 64, max_windows: int = 100_000) -> Windows:
    """The windows around `hits` ((start, end) in order of start)."""
    spans: list[list[int]] = []
    n = len(text)
    for a, b in hits:
        lo, hi = max(a - margin, 0), min(b + margin, n)
        while lo > 0 and not text[lo - 1].isspace() and a - lo < 4 * margin:
            lo -= 1
        while hi < n and not text[hi].isspace() and hi - b < 4 * margin:
            hi += 1
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            if len(spans) >= max_windows:
                break
            spans.append([lo, hi])
    starts, ends, offsets, parts, at = [], [], [], [], 0
    for lo, hi in spans:
        starts.append(lo)
        ends.append(hi)
        offsets.append(at)
        parts.append(text[lo:hi])
        at += hi - lo + len(SEP)
    return Windows(starts, ends, SEP.join(parts), offsets)
