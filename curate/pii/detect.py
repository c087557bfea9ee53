"""One detector over a batch of texts: structured types and secrets through presidio's recognizers on
pre-screened windows (`recognizers.StructuredFinder`), names and addresses through `ner.NameFinder`, then the allow-list and
the not-PII rules, then overlaps merged. Built once per worker (`Detector(...)` loads the models).
"""

from __future__ import annotations

from dataclasses import dataclass

from .negatives import AllowList, not_pii
from .prescreen import STRUCTURED, windows
from .recognizers import STRUCTURED_TYPES, StructuredFinder
from .secrets import SECRET_TYPES

NAME_TYPES = ("PERSON", "LOCATION", "ADDRESS")
ALL_TYPES = (*STRUCTURED_TYPES, *NAME_TYPES, *SECRET_TYPES)
# When spans overlap, the merged span takes the type that ranks first here.
RANK = {t: i for i, t in enumerate(
    [*SECRET_TYPES, "EMAIL_ADDRESS", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER",
     "ADDRESS", "PERSON", "LOCATION"])}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


class Detector:
    def __init__(self, entities: tuple[str, ...] = ALL_TYPES, min_score: float = 0.3, allow: AllowList | None = None,
                 ner: bool = True, gazetteer: bool = True, addresses: bool = True, name_list: bool = True,
                 timeout_s: float = 2.0, max_ner_chars: int = 200_000):
        self.entities = tuple(entities)
        self.structured = [e for e in self.entities if e not in NAME_TYPES]
        self.min_score = min_score
        self.allow = allow or AllowList()
        self.timeout_s, self.max_ner_chars = timeout_s, max_ner_chars
        self.finder = StructuredFinder(tuple(self.structured))
        self.names = None
        if any(e in NAME_TYPES for e in self.entities):
            from .ner import NameFinder  # loads spaCy: only when names are asked for
            self.names = NameFinder(use_model=ner, use_gazetteer=gazetteer, use_addresses=addresses,
                                    use_name_list=name_list)

    def detect(self, texts: list[str]) -> tuple[list[list[Span]], list[str | None]]:
        """Per text: merged spans, and a status (None, or why the name pass was cut short)."""
        found: list[list[tuple]] = [[] for _ in texts]
        status: list[str | None] = [None] * len(texts)
        if self.structured:
            wins = [windows(t, STRUCTURED) for t in texts]
            for i, w in enumerate(wins):
                if not w.text:
                    continue
                for a, b, kind, score in self.finder.find(w.text):
                    if score >= self.min_score:
                        found[i].append((w.to_doc(a), w.to_doc(max(b - 1, a)) + 1, kind))
        if self.names is not None:
            spans, status = self.names.find(texts, self.timeout_s, self.max_ner_chars)
            for i, s in enumerate(spans):
                found[i] += [x for x in s if x[2] in self.entities]
        return [self._clean(t, f) for t, f in zip(texts, found)], status

    def _clean(self, text: str, found: list[tuple]) -> list[Span]:
        kept = [(a, b, t) for a, b, t in found
                if b > a and not self.allow.allows(text[a:b]) and not_pii(text, a, b, t) is None]
        kept.sort(key=lambda x: (x[0], -x[1]))
        merged: list[list] = []
        for a, b, t in kept:
            if merged and a < merged[-1][1]:
                last = merged[-1]
                last[1] = max(last[1], b)
                if RANK[t] < RANK[last[2]]:
                    last[2] = t
            else:
                merged.append([a, b, t])
        return [Span(a, b, t) for a, b, t in merged]
