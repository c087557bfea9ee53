"""Bag-of-words F1 of an extracted text against a reference text: the score of the extraction-quality
tests and of benchmarks/extraction_quality.py and benchmarks/commoncrawl.py.

Text is split into tokens: each character of a script written without spaces between words (Chinese,
Japanese kana, Thai, Lao, Burmese, Khmer) is a token, and elsewhere a run of word characters is one
(lower-cased); F1 is the harmonic mean of precision (how much of the output is reference text) and
recall (how much of the reference came out), counting repeats."""

from __future__ import annotations

import re
from collections import Counter

NO_SPACES = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(f"[{NO_SPACES}]|[^\\W{NO_SPACES}]+")


def tokens(text: str) -> Counter:
    return Counter(TOKEN.findall(text.lower()))


def f1(got: str, ref: str) -> float:
    a, b = tokens(got), tokens(ref)
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0
    p, r = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * p * r / (p + r)
