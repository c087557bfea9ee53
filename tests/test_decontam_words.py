"""decontam's compiled word splitter against a plain-Python reading of the same rules, on real text:
the bundled sample (English web pages) and CPython's CJK test texts (Chinese, Japanese, Korean)."""

from __future__ import annotations

import sysconfig
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.decontam.words import HashSet, char_grams, normalized, split
from tests.test_decontam import clean_docs

M64 = (1 << 64) - 1


def reference_hash(word: str) -> int:
    h = 0xCBF29CE484222325
    for b in word.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    for k in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h = ((h ^ (h >> 33)) * k) & M64
    return h ^ (h >> 33)


def separates(ch: str) -> bool:
    return (ch.isascii() and not ch.isalnum()) or unicodedata.category(ch)[0] in "PS" or \
        unicodedata.category(ch) == "Cc" or ch.isspace()


def reference_words(text: str) -> list[str]:
    """ASCII separators first; each run holding other characters normalized (NFKC, lowercase) and split."""
    words, run = [], ""
    for ch in text + " ":
        if ch.isascii() and not ch.isalnum():
            norm = unicodedata.normalize("NFKC", run).lower()
            words += "".join(" " if separates(c) else c for c in norm).split()
            run = ""
        else:
            run += ch
    return words


def real_texts() -> list[str]:
    cjk = Path(sysconfig.get_paths()["stdlib"]) / "test" / "cjkencodings"
    return clean_docs()[:200] + [p.read_text("utf-8") for p in sorted(cjk.glob("*-utf8.txt"))]


def test_split_matches_the_plain_python_rules_on_real_text():
    texts = real_texts()
    assert any(not t.isascii() for t in texts)
    hashes, telling, lengths = split(pa.array(texts + [None, ""], pa.large_string()))
    expect = [reference_words(t) for t in texts] + [[], []]
    assert lengths.tolist() == [len(w) for w in expect]
    flat = [w for ws in expect for w in ws]
    assert hashes.tolist() == [reference_hash(w) for w in flat]
    assert telling.tolist() == [sum(c.isalpha() for c in w) >= 2 for w in flat]


def test_split_folds_case_width_and_punctuation():
    a, b = (split(pa.array([t], pa.large_string()))[0].tolist() for t in
            ("Ｈｅｌｌｏ,\u00a0WORLD—e\u0301te\u0301!", "hello world été"))
    assert a == b


def test_hash_set_membership():
    values = np.array([reference_hash(w) for w in ("def", "return", "été")], np.uint64)
    s = HashSet(values)
    probe = split(pa.array(["def x(): return été or None"], pa.large_string()))[0]
    assert s.contains(probe).tolist() == [True, False, True, True, False, False]


def test_normalized_text_is_the_words_joined():
    texts = real_texts() + ["naïve", "café", "x", "—", "", "ｙｅｓ—ok"]  # rows that end and start inside a run
    assert normalized(pa.array(texts, pa.large_string())).to_pylist() == [" ".join(reference_words(t)) for t in texts]


def test_char_grams_hash_equal_text_equally_and_only_what_the_set_holds():
    texts = [" ".join(reference_words(t)) for t in real_texts()[:30]]
    norm = pa.array(texts, pa.large_string())
    hashes, rows, firsts, _ = char_grams(norm, 20)
    assert np.bincount(rows, minlength=len(texts)).tolist() == [max(len(t) - 19, 0) for t in texts]
    by_text: dict[str, set[int]] = {}
    for h, r, f in zip(hashes.tolist(), rows, firsts):
        by_text.setdefault(texts[r][f:f + 20], set()).add(h)
    assert all(len(h) == 1 for h in by_text.values())
    assert len({h for hs in by_text.values() for h in hs}) == len(by_text)  # no collision among distinct windows
    wanted = hashes[::97]
    found = char_grams(norm, 20, HashSet(wanted))[0]
    assert set(found.tolist()) == set(wanted.tolist())
