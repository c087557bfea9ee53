"""Allow-lists and context rules: what looks like PII but is not (versions, ISBNs, dates, hashes,
UUIDs, git SHAs, timestamps, floats, code literals), applied to every detection before redaction.

Rules for numeric types (phone, card, SSN, IBAN, IP):
- part of a longer token: a letter, digit or `_` right before or after it (a hash, a UUID, an
  identifier), or the token around it is hex with letters, a UUID or a float;
- a version, ISBN or checksum word just before it ("v", "version", "release", "ISBN", "sha", "md5");
- a phone that is an ISO date, has fewer than 7 digits, or, with no phone word before it, is a bare
  digit run, a US ZIP+4 code or a count grouped in thousands ("19 082 000"); a number of 4-5
  hyphenated groups that is a valid ISBN-10/13.
A user's `allow_list` (exact strings) and `allow_patterns` (regexes over the detected text) keep
their matches too.
"""

from __future__ import annotations

import regex

NUMERIC = {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS"}
UUID = regex.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
HEXY = regex.compile(r"(?=[0-9a-fA-F-]*[a-fA-F])(?=[0-9a-fA-F-]*\d)[0-9a-fA-F-]{7,}")
FLOAT = regex.compile(r"\d+\.\d+")
DATE = regex.compile(r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?:[ T]\d{1,2}:\d{2}.*)?")
BEFORE_NOT_PII = regex.compile(
    r"(?i:\b(?:v|ver|version|versions|release|released|rel|python|rev|revision|build|isbn(?:-1[03])?|"
    r"sha\d*|md5|checksum|hash|commit|doi|arxiv|id|uuid|pep|rfc|issue|bug|pr|ticket))[\s:#=.-]*v?$"
)
ZIP4 = regex.compile(r"\d{5}-\d{4}")
THOUSANDS = regex.compile(r"[1-9]\d{0,2}(?:([ ,.])\d{3})(?:\1\d{3})+|[1-9]\d{0,2},\d{3}")  # 19 082 000, 4,148,000
PHONE_WORDS = regex.compile(
    r"(?i:phone|tel|telephone|call|mobile|cell|fax|contact|number|whatsapp|ph\b|mob\b|tél|telefon|"
    r"teléfono|telefono|móvil|cellulare|portable|handy|numéro|nummer|numero|answering|messages?\b|sms\b|\bdial)"
)


def _token(text: str, start: int, end: int) -> str:
    lo, hi = start, end
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and not text[hi].isspace():
        hi += 1
    return text[lo:hi].strip(".,;:()[]{}<>\"'")


def _isbn_ok(digits: str) -> bool:
    if len(digits) == 13 and digits[:3] in ("978", "979"):
        return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0
    if len(digits) == 10:
        vals = [10 if d in "xX" else int(d) for d in digits]
        return sum((10 - i) * v for i, v in enumerate(vals)) % 11 == 0
    return False


def not_pii(text: str, start: int, end: int, entity: str) -> str | None:
    """The reason a detection is not PII (`version`, `isbn`, `hash`, ...), or None to keep it."""
    if entity not in NUMERIC | {"PERSON", "LOCATION"}:
        return None
    value = text[start:end]
    if entity in ("PERSON", "LOCATION"):
        return None if any(c.isalpha() for c in value) else "no_letters"
    if m := regex.match(r"\d{1,3}\.\s+", value):  # a list number before the value
        return not_pii(text, start + m.end(), end, entity)
    before, after = text[max(start - 24, 0):start], text[end:end + 2]
    if (start and (text[start - 1].isalnum() or text[start - 1] in "_")) or (after[:1].isalnum() or after[:1] == "_"):
        return "inside_token"
    token = _token(text, start, end)
    if token.lower().startswith("0x") or UUID.search(token):
        return "uuid"
    if HEXY.fullmatch(token) and entity not in ("IP_ADDRESS", "IBAN_CODE"):
        return "hash"
    if BEFORE_NOT_PII.search(before):
        return "version_or_id"
    if entity == "IP_ADDRESS":
        return None
    if regex.fullmatch(r"[\d-]+[xX]?", token) and token.count("-") >= 3:  # ISBNs have 4 or 5 groups
        if _isbn_ok(token.replace("-", "")):
            return "isbn"
    if FLOAT.fullmatch(token) or FLOAT.fullmatch(value) or (start >= 2 and regex.match(r"\d\.", text[start - 2:start])) \
            or regex.match(r"\.\d", after):
        return "float"
    if entity == "PHONE_NUMBER":
        digits = sum(c.isdigit() for c in value)
        if digits < 7:
            return "short_number"
        if DATE.fullmatch(value) or DATE.fullmatch(token):
            return "date"
        context = PHONE_WORDS.search(text[max(start - 40, 0):start]) is not None
        if value.isdigit() and not context and (not 10 <= len(value) <= 12 or value[0] == "1"):  # 1...: a Unix time
            return "bare_digits"
        if not context and ZIP4.fullmatch(value):
            return "zip_code"
        if not context and THOUSANDS.fullmatch(value):
            return "count"
    return None


class AllowList:
    """Exact strings and regexes whose matches are never redacted."""

    def __init__(self, exact: list[str] = (), patterns: list[str] = ()):
        self.exact = frozenset(exact)
        self.patterns = [regex.compile(p) for p in patterns]

    def allows(self, value: str) -> bool:
        return value in self.exact or any(p.fullmatch(value) for p in self.patterns)
