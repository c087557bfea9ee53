"""The structured types and secrets: presidio's recognizers (their patterns and validators), run
directly on the pre-screened windows, without presidio's AnalyzerEngine around them; and our own
phone finder.

- EMAIL_ADDRESS: presidio's pattern; its tldextract check uses the suffix list bundled with
  tldextract (`suffix_list_urls=()`), never the network.
- PHONE_NUMBER: `find_phones`: one regex for digit runs shaped like a phone number, then
  python-phonenumbers on each candidate (see there).
- IP_ADDRESS (v4, v6), CREDIT_CARD (Luhn), IBAN_CODE (mod-97; also in lower case), US_SSN:
  presidio's own.
- The secret recognizers of `secrets.py`.

Why not `AnalyzerEngine.analyze`: per call it tokenizes the text with spaCy and walks the tokens for
context words; over the benchmark that was two thirds of the structured pass. Presidio's context rule
is kept, cheaply (`_boost`): a context word of the recognizer in the five words before a match
raises its score by 0.35 (to at least 0.4), as presidio's `LemmaContextAwareEnhancer` does.
"""

from __future__ import annotations

import phonenumbers
import regex
import tldextract
from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)

from .secrets import secret_recognizers

STRUCTURED_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN")
# Regions whose national formats are tried: the large English- and European-language markets and
# the most populous others. International (+CC) numbers are found whatever the list.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "IN", "AU", "BR", "MX", "JP", "CA")
# Cards presidio's pattern misses (Mastercard 2-series, 17-19 digit cards); Luhn still decides.
WIDE_CARD = Pattern("card (wide)", r"\b(?:2131|1800|2[2-7]\d{2}|3\d{3}|4\d{3}|5\d{3}|6\d{3})(?:[- ]?\d){8,15}\b", 0.3)

_EXT = regex.compile(r"[ \t]*(?:,[ \t]*)?(?:ext\.?|x|extension|#)[ \t]*\d{1,6}\b", regex.I)
# A run of 7+ digits in phone shape: an optional + or 00 prefix, digit groups split by at most two of
# space . - / and parentheses around an area code or a trunk "(0)". Not inside a longer token.
_GROUP = r"(?:\(\s?\+?\d{1,5}\s?\)|\d+)"
PHONE_CANDIDATE = regex.compile(
    r"(?<![\w@/+.\-])(?:\+[ \t]?)?" + _GROUP + r"(?:(?:[ \t]?[\-/][ \t]?|[ \t]{1,2}|\.)" + _GROUP + r"|" + _GROUP + r")*(?=[^\w@]|$|[xX]\d)"
)
PHONE_CONTEXT = regex.compile(
    r"(?i:phone|tel\b|tel\.|telephone|call|mobile|cell|fax|contact|whatsapp|ph\b|mob\b|tél|telefon|"
    r"teléfono|telefono|móvil|cellulare|portable|handy|numéro|nummer|numero|number|answering|messages?\b|sms\b|\bdial)"
)
_YEAR_RANGE = regex.compile(r"(?:1[89]|20)\d\d\s?[-/]\s?(?:1[89]|20)?\d\d")


def _possible(candidate: str, valid: bool = False) -> phonenumbers.PhoneNumber | None:
    """The number, when `candidate` is a possible (with `valid`: a valid) number, international or
    national in a listed region."""
    check = phonenumbers.is_valid_number if valid else phonenumbers.is_possible_number
    for region in (None,) if candidate.startswith("+") else PHONE_REGIONS:
        try:
            num = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if check(num):
            return num
    return None


def _is_phone(text: str, start: int, candidate: str, strict: bool) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not 7 <= digits <= 15 or _YEAR_RANGE.fullmatch(candidate) or candidate.count("/") > 1 \
            or candidate.endswith(")"):  # "211 (2008)": parentheses hold an area code, not a tail
        return False
    if candidate.isdigit():  # a bare digit run: only a valid number
        return strict and _possible(candidate, valid=True) is not None
    if strict:
        return _possible(candidate) is not None
    # Not a possible number anywhere, yet written as one: an international prefix, or a phone word
    # just before it (E.164 allows 15 digits; "+1 001..." renderings of a dialled prefix are not
    # possible numbers but hold one).
    context = PHONE_CONTEXT.search(text, max(start - 32, 0), start) is not None
    return (candidate.startswith("+") and digits >= 8) or context


def find_phones(text: str) -> list[tuple[int, int, float]]:
    """Phone numbers (start, end, score) in `text`, each with its extension ("x123", "ext. 123").

    A candidate is a phone when it, or it less its last or first digit group (a phone run on into a
    year or a count), is a possible number for phonenumbers; failing that, when it is written with
    an international "+" prefix (8-15 digits) or follows a phone word ("Tel.", "call", "mobile").
    A bare digit run must be a valid number."""
    out = []
    for m in PHONE_CANDIDATE.finditer(text):
        hit = next(((a, c) for strict in (True, False) for a, c in _trims(m.start(), m.group())
                    if _is_phone(text, a, c, strict)), None)
        if hit:
            start, end = hit[0], hit[0] + len(hit[1])
            if ext := _EXT.match(text, end):
                end = ext.end()
            out.append((start, end, 0.6))
    return out


def _trims(start: int, cand: str):
    """The candidate, then without its last group, then without its first (twice at most); a
    trailing year ("... 2019") is dropped first."""
    for _ in range(3):
        parts = regex.split(r"([ \t]+)", cand)
        if len(parts) >= 3 and regex.fullmatch(r"(?:19|20)\d\d", parts[-1]):
            yield start, "".join(parts[:-2])
        yield start, cand
        if len(parts) < 3:
            return
        yield start, "".join(parts[:-2])
        start, cand = start + len(parts[0]) + len(parts[1]), "".join(parts[2:])


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email pattern; the domain check uses tldextract's bundled suffix list."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


def structured_recognizers() -> list:
    return [OfflineEmailRecognizer(), IpRecognizer(), CreditCardRecognizer(),
            CreditCardRecognizer(patterns=[WIDE_CARD], name="WideCardRecognizer"), IbanRecognizer(),
            UsSsnRecognizer(), *secret_recognizers()]


_WORDS = regex.compile(r"[\w'-]+")


def _upper(text: str) -> str:
    """The text in capitals, same length (a letter whose capital is longer, "ß", stays): an IBAN
    written in lower case ("gb82west1234...") is checked as the upper-case one."""
    up = text.upper()
    return up if len(up) == len(text) else "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


class StructuredFinder:
    """The structured entities and secrets in a text: (start, end, type, score)."""

    def __init__(self, entities: tuple[str, ...]):
        self.entities = set(entities)
        self.recognizers = [r for r in structured_recognizers() if r.supported_entities[0] in self.entities]
        self.context = {id(r): tuple(w.lower() for w in r.context or ()) for r in self.recognizers}

    def find(self, text: str) -> list[tuple[int, int, str, float]]:
        out = []
        for rec in self.recognizers:
            entity = rec.supported_entities[0]
            for r in rec.analyze(_upper(text) if entity == "IBAN_CODE" else text, [entity]):
                out.append((r.start, r.end, entity, self._boost(text, r.start, r.score, self.context[id(rec)])))
        if "PHONE_NUMBER" in self.entities:
            out += [(a, b, "PHONE_NUMBER", s) for a, b, s in find_phones(text)]
        return out

    @staticmethod
    def _boost(text: str, start: int, score: float, context: tuple[str, ...]) -> float:
        if not context or score >= 1:
            return score
        words = _WORDS.findall(text, max(start - 80, 0), start)[-5:]
        if any(c in w.lower() for w in words for c in context):
            return max(min(score + 0.35, 1.0), 0.4)
        return score
