"""The routing rule: is a page's text layer text a reader can use, or must the page be OCR'd?

A page goes to OCR when it has no text layer but shows an image (a scan), or when its text layer is
garbage: replacement characters, control or private-use characters, `(cid:N)` glyph ids, mojibake
(UTF-8 read as Latin-1/cp1252), or letters that do not form words (a font whose codes are glyph ids reads
as `Wkh txlfn eurzq ira`). A page with no text and no image is blank and stays so. Words are judged
without a dictionary, so the rule holds for code, tables and non-English text: a letter run is word-like
when it has a vowel, no long consonant run and ordinary case; scripts other than Latin count as words;
a page fails on words only when few runs are word-like *and* none of the commonest function words of
the main European languages appear.
"""

from __future__ import annotations

import re

MIN_CHARS = 20  # fewer non-space characters than this is no text layer (a page number, a running head)
IMAGE_PAGE = 0.1  # an image over this share of a page with no text layer: a scan (or a photo) to OCR
SCAN_PAGE = 0.6  # an image over this share under scraps of text: a scan with a bad OCR layer
LETTER_RUN = re.compile(r"[^\W\d_]+")
CID = re.compile(r"\(cid:\d+\)")
MOJIBAKE = re.compile(r"[ÃÂâ][\u0080-\u00bf\u2018-\u203a\u20ac\u0152\u0153\u0160\u0161\u017d\u017e\u0178\u02c6\u02dc]")
VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")
CONSONANT_RUN = re.compile(r"[b-df-hj-np-tv-xz]{6,}")
LATIN_MAX = 0x24F
FUNCTION_WORDS = set("""
the of and to in is that for it as with was on be by are this or from at an which not have has
der die das und ist nicht mit von den ein eine zu auf für sich des dem im
le la les et est des une un du dans pour que qui pas sur au avec
el los las y es del en por con una para que se
il della di che per non sono gli
o os as do da em um uma não
de het een en van dat niet op zijn
""".split())


def verdict(text: str, image_share: float) -> str | None:
    """Why the page must be OCR'd (`no_text_layer`, `replacement_chars`, `control_chars`, `cid_glyphs`,
    `mojibake`, `not_words`), or None when its text layer is kept (also a blank page: nothing to read).
    `image_share`: the part of the page that images cover (0..1)."""
    visible = sum(1 for c in text if not c.isspace())
    if visible < MIN_CHARS:
        return "no_text_layer" if image_share >= IMAGE_PAGE else None
    if image_share >= SCAN_PAGE and visible < 2000 and sum(map(len, words(text))) < 0.4 * visible:
        return "not_words"  # a scan under a few scraps of text (a bad OCR layer, stray marks)
    bad = text.count("\ufffd")
    if bad > max(3, 0.01 * visible):
        return "replacement_chars"
    control = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f\x02") or 0xE000 <= ord(c) <= 0xF8FF)
    if control > max(3, 0.05 * visible):
        return "control_chars"
    if len(CID.findall(text)) * 8 > 0.2 * visible:
        return "cid_glyphs"
    if len(MOJIBAKE.findall(text)) > max(3, 0.01 * visible):
        return "mojibake"
    if not words_ok(text):
        return "not_words"
    return None


def words_ok(text: str) -> bool:
    """Whether the letters read as words (too few letter runs to judge: yes)."""
    runs = words(text)
    if len(runs) < 15:
        return True
    wordlike = common = 0
    for run in runs:
        lower = run.lower()
        common += lower in FUNCTION_WORDS
        wordlike += word_like(run, lower)
    share = wordlike / len(runs)
    return share >= 0.75 or (share >= 0.5 and common >= max(2, 0.02 * len(runs)))


def words(text: str) -> list[str]:
    return [r for r in LETTER_RUN.findall(text) if len(r) > 2]  # not "g", "ml", "bv": units, variables


def word_like(run: str, lower: str) -> bool:
    if any(ord(c) > LATIN_MAX for c in run):
        return True  # another script: not judged here
    if len(run) > 24 or not (run.islower() or run.isupper() or run[1:].islower()):
        return run.isupper() or has_camel_case(run)
    return any(c in VOWELS for c in lower) and not CONSONANT_RUN.search(lower)


def has_camel_case(run: str) -> bool:
    """`printTable`, `PdfReader`: code identifiers made of word-like parts."""
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", run)
    return "".join(parts) == run and all(any(c in VOWELS for c in p.lower()) for p in parts if len(p) > 1)
