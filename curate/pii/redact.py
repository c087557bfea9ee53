"""pii.redact: find personal data and secrets (presidio + spaCy small English NER, offline) and
replace, mask, hash or keep each per entity type; drop a document holding too many.

Entities: EMAIL_ADDRESS, PHONE_NUMBER, IP_ADDRESS, CREDIT_CARD, IBAN_CODE, US_SSN, PERSON, LOCATION,
ADDRESS (street addresses) and the secrets PRIVATE_KEY, CLOUD_KEY, API_TOKEN, URL_PASSWORD, JWT.
Actions: `replace` (a typed placeholder, `<EMAIL_ADDRESS>`), `mask` (each character -> `*`), `hash`
(`<PERSON:1f2e3d4c5b6a>`, a salted SHA-256 of the value, stable across runs and documents), `keep`
(counted only). `drop_above` drops a document with more than N entities of a type (reason
`pii:too_many:<TYPE>`). Adds `pii` (count per type found) and, with `spans: true`, `pii_spans`
(start, end, type in the input text). Counts per type (`pii:<TYPE>` found, `redacted:<TYPE>`
rewritten) go to the manifest per source.

Bad input never stops a worker: a text over `max_chars` is skipped unchanged (`skipped:too_large`,
or dropped with `oversize: drop`); lone surrogates are replaced before analysis (`fixed:surrogates`);
the name pass has a per-document time limit (`ner_timeout_s`; `ner:timeout` counted); a document the
detector raises on is removed with `error:<Exception>` under the run's error budget.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register

from .detect import ALL_TYPES, Detector, Span
from .negatives import AllowList

Action = Literal["replace", "mask", "hash", "keep"]
NAMES = ("PERSON", "LOCATION", "ADDRESS")
# By default the structured types and secrets: names and places in web text are mostly public figures,
# characters and cities, and redacting them all costs text quality (FineWeb and Dolma redact e-mails
# and IPs only); ask for PERSON, LOCATION and ADDRESS where the corpus calls for it.
DEFAULT_ENTITIES = [t for t in ALL_TYPES if t not in NAMES]
SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("type", pa.string())])


class RedactParams(Params):
    entities: list[Literal[ALL_TYPES]] = Field(default_factory=lambda: list(DEFAULT_ENTITIES))  # what to look for
    action: Action = "replace"  # for every entity not named in `actions`
    actions: dict[str, Action] = {}  # per entity type, e.g. {PERSON: hash, LOCATION: keep}
    salt: str = ""  # for `hash`; set one per project and keep it secret
    mask_char: str = Field("*", min_length=1, max_length=1)
    drop_above: dict[str, int] = {}  # drop a document with more than N of a type; key ANY: of all types
    spans: bool = False  # also write `pii_spans`
    allow_list: list[str] = []  # exact values never redacted
    allow_patterns: list[str] = []  # regexes (full match) of values never redacted
    min_score: float = Field(0.3, ge=0, le=1)  # presidio score a structured detection needs
    ner: bool = True  # the spaCy model for PERSON / LOCATION (off: gazetteer, name list, patterns only)
    ner_timeout_s: float = Field(2.0, gt=0)
    max_chars: int = Field(5_000_000, gt=0)  # longer documents are not analyzed
    oversize: Literal["keep", "drop"] = "keep"  # what to do with them


def _sanitize(text: str) -> tuple[str, bool]:
    """The text with lone surrogates replaced by U+FFFD (same length, so offsets hold)."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text), True


@register("pii.redact")
class Redact(Filter):
    """Redact personal data and secrets; drop documents holding too many."""

    Params = RedactParams
    adds = {"pii": pa.map_(pa.string(), pa.int32()), "pii_spans": pa.list_(SPAN)}

    @classmethod
    def check(cls, p: RedactParams) -> None:
        unknown = (set(p.actions) | set(p.drop_above)) - set(ALL_TYPES) - {"ANY"}
        if unknown:
            raise ValueError(f"unknown entity types {sorted(unknown)}; known: {', '.join(ALL_TYPES)}")
        AllowList(p.allow_list, p.allow_patterns)  # regexes compile

    def setup(self) -> None:
        p = self.params
        self.detector = Detector(tuple(p.entities), p.min_score, AllowList(p.allow_list, p.allow_patterns),
                                 ner=p.ner, timeout_s=p.ner_timeout_s)

    def _replacement(self, value: str, kind: str) -> str | None:
        action = self.params.actions.get(kind, self.params.action)
        if action == "keep":
            return None
        if action == "mask":
            return "".join(c if c.isspace() else self.params.mask_char for c in value)
        if action == "hash":
            digest = hashlib.sha256(f"{self.params.salt}\x00{kind}\x00{value}".encode()).hexdigest()[:12]
            return f"<{kind}:{digest}>"
        return f"<{kind}>"

    def rewrite(self, text: str, spans: list[Span]) -> tuple[str, dict[str, int]]:
        out, last, done = [], 0, {}
        for s in spans:
            new = self._replacement(text[s.start:s.end], s.type)
            if new is None:
                continue
            out += [text[last:s.start], new]
            last = s.end
            done[s.type] = done.get(s.type, 0) + 1
        return "".join(out) + text[last:], done

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        if not hasattr(self, "detector"):
            self.setup()
        p, n = self.params, batch.num_rows
        texts = batch.column("text").to_pylist()
        keep, reasons = np.ones(n, bool), np.full(n, None, dtype=object)
        counters: dict[str, np.ndarray] = {}

        def bump(name: str, row: int, by: int = 1) -> None:
            counters.setdefault(name, np.zeros(n, np.int64))[row] += by

        todo = []
        for i, t in enumerate(texts):
            if t is None:
                continue
            if len(t) > p.max_chars:
                bump("skipped:too_large", i)
                if p.oversize == "drop":
                    keep[i], reasons[i] = False, "pii:too_large"
                continue
            texts[i], fixed = _sanitize(t)
            if fixed:
                bump("fixed:surrogates", i)
            todo.append(i)
        found: dict[int, list[Span]] = {}
        try:
            spans, status = self.detector.detect([texts[i] for i in todo])
            found = dict(zip(todo, spans))
            for i, st in zip(todo, status):
                if st:
                    bump(f"ner:{st.removeprefix('ner_')}", i)
        except Exception:  # one bad document must not fail the batch: find it one by one
            for i in todo:
                try:
                    spans, status = self.detector.detect([texts[i]])
                    found[i] = spans[0]
                    if status[0]:
                        bump(f"ner:{status[0].removeprefix('ner_')}", i)
                except Exception as err:  # noqa: BLE001 - the engine counts it under error_budget
                    keep[i], reasons[i] = False, self.failed(err)
        pii, pii_spans, new_texts = [None] * n, [None] * n, list(batch.column("text").to_pylist())
        for i, spans in found.items():
            per_type: dict[str, int] = {}
            for s in spans:
                per_type[s.type] = per_type.get(s.type, 0) + 1
                bump(f"pii:{s.type}", i)
            pii[i] = list(per_type.items())
            if p.spans:
                pii_spans[i] = [{"start": s.start, "end": s.end, "type": s.type} for s in spans]
            too_many = [k for k, lim in p.drop_above.items()
                        if (sum(per_type.values()) if k == "ANY" else per_type.get(k, 0)) > lim]
            if too_many:
                keep[i], reasons[i] = False, f"pii:too_many:{too_many[0]}"
                continue
            new_texts[i], done = self.rewrite(texts[i], spans)
            for k, v in done.items():
                bump(f"redacted:{k}", i, v)
        for name, per_row in counters.items():
            self.count(name, per_row)
        batch = batch.set_column(batch.schema.get_field_index("text"), "text", pa.array(new_texts, pa.large_string()))
        batch = batch.append_column("pii", pa.array(pii, self.adds["pii"])) \
                     .append_column("pii_spans", pa.array(pii_spans, self.adds["pii_spans"]))
        return FilterResult(keep, reasons, batch)
