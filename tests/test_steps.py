"""Steps on real text: each decides what it should, and the native Gopher filters agree with datatrove."""

from __future__ import annotations

import gzip
import itertools
import json
import random
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.utils.text import split_into_words

from curate.dedup.exact import ExactDedup, ExactParams
from curate.engine.schema import CORE_SCHEMA
from curate.filters.datatrove import DatatroveFilter, DatatroveParams
from curate.filters.gopher import GopherQuality, GopherQualityParams, GopherRepetition, GopherRepetitionParams
from curate.filters.length import LengthFilter, LengthParams
from curate.filters.words import WordSplitter
from curate.normalize.unicode import UnicodeNormalize, UnicodeParams
from tests.conftest import SAMPLE
from tests.neardup import decisions


@lru_cache(maxsize=1)
def sample_texts() -> list[str]:
    """Up to 120 documents of each sample source, cut to 20k characters to keep datatrove's side quick."""
    texts = []
    for f in sorted(SAMPLE.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            texts += [json.loads(line)["text"][:20_000] for line, _ in zip(fh, range(120))]
    return texts


@lru_cache(maxsize=4)
def datatrove_decisions(name: str) -> list:
    reference = {"quality": GopherQualityFilter(), "repetition": GopherRepetitionFilter()}[name]
    return [reference.filter(Document(text=t, id=str(i))) for i, t in enumerate(sample_texts())]


def batch_of(texts: list[str]) -> pa.RecordBatch:
    n = len(texts)
    return pa.RecordBatch.from_pydict({"id": [str(i) for i in range(n)], "text": texts, "source": ["s"] * n,
                                       "url": [None] * n, "origin": [None] * n}, schema=CORE_SCHEMA)


def built(cls, params):
    step = cls(params)
    step.setup()
    return step


def test_word_splitter_matches_spacy_on_real_text():
    splitter = WordSplitter("en")
    texts = sample_texts()
    same = sum(splitter.words(t) == split_into_words(t + " ") for t in texts)
    assert same / len(texts) >= 0.99


def test_word_cache_keeps_its_first_chunks_and_stops(monkeypatch):
    """Bounded memory: once full, the chunk cache stops growing (no clear-and-refill), and words stay right."""
    monkeypatch.setattr("curate.filters.words.CACHE_LIMIT", 50)
    text = " ".join(sample_texts()[:20])
    splitter = WordSplitter("en")
    words = splitter.words(text)
    assert len(splitter.cache) == 50 and list(splitter.cache) == list(dict.fromkeys(text.split()))[:50]
    assert words == WordSplitter("en").words(text) == splitter.words(text)


def test_exact_words_are_spacys_tokens():
    """On real text, and on strings built from spaCy's special cases and punctuation with every kind of
    whitespace between them (where `words` differs from spaCy on about 1% of strings)."""
    splitter = WordSplitter("en")
    rng = random.Random(0)
    pieces = [k for k in splitter.specials if not k.isalpha()] + list("():;'\"-.,!?*[]=<>") + ["a", "don't", "id"]
    spaces = ["", "", " ", "  ", "\n", " \n", "\t", "\xa0"]
    made = ["".join(rng.choice(pieces) + rng.choice(spaces) for _ in range(rng.randint(1, 10))) for _ in range(3000)]
    for text in sample_texts() + made:
        assert splitter.exact_words(text) == split_into_words(text)


def test_words_of_punctuated_chunks_are_spacys_tokens():
    """Words with the punctuation prose and code put around them: the splitter's shortcuts (a chunk or what
    is left of it after its affixes, letters or digits only; special cases joined only from their first
    piece) give spaCy's tokens. ("id." is one of the strings only `exact_words` gets right.)"""
    splitter = WordSplitter("en")
    cores = ["word", "Word", "don't", "U.S.", "5", "5km", "e.g.", "x_y", "a.b", "os.path.join()", "it's", "2.0",
             "f(x)", "a-b", "a/b", "Dec.", "10am", "id"]
    before = ["", "(", '"', "'", "[", "$", '("', "`", "“", "--"]
    after = ["", ",", ".", ")", ").", "),", ":", ";", "'s", '"', "...", "!", "?)", "’s", ".'", "%"]
    for chunk in (b + core + a for b, core, a in itertools.product(before, cores, after)):
        assert splitter.exact_words(chunk) == split_into_words(chunk)
        if "id." not in chunk:
            assert splitter.words(chunk) == split_into_words(chunk)


def test_suffix_length_is_spacys_suffix_search():
    """The splitter's suffix lookup (literals by last character, one-character rules at the end only, the
    rest searched) finds the suffix spaCy's whole-pattern search finds: units, currencies, degrees, symbols,
    runs of dots, periods after lower and upper case, on words of real text and random mixes."""
    from curate.filters.words import import_spacy

    search = import_spacy().blank("en").tokenizer.suffix_search
    splitter = WordSplitter("en")
    rng = random.Random(1)
    endings = ["5km", "10km²", "3m", "5$", "5US$", "5€", "5+", "°F.", "°c.", "©", "→", "™", "a..", "a.....", "ab.",
               "AB.", "A.", "x's", "X'S", "it’s", "…", "……", ")", "”", "%", "»", "。", "a", "5", "", "'", "--"]
    pool = "aZ5.,'’$°%)(km²+-…©→" + "".join(endings)
    words = [w for t in sample_texts()[:200] for w in t.split()]
    strings = [rng.choice(words) + e for e in endings for _ in range(20)]
    strings += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 16))) for _ in range(5000)]
    for string in strings:
        m = search(string)
        assert splitter.suffix_length(string) == (m.end() - m.start() if m else 0), string


@pytest.mark.parametrize("native_cls,params,reference", [
    (GopherQuality, GopherQualityParams(exact_margin=10), "quality"),
    (GopherRepetition, GopherRepetitionParams(exact_margin=10), "repetition"),
])
def test_borderline_documents_decide_exactly_like_datatrove(native_cls, params, reference):
    """A margin this wide sends every document down the borderline path: all decisions are datatrove's."""
    step = built(native_cls, params)
    result = step.keep(batch_of(sample_texts()))
    expected = datatrove_decisions(reference)
    assert result.keep.tolist() == [e if isinstance(e, bool) else e[0] for e in expected]
    assert result.reasons.tolist() == [None if isinstance(e, bool) else e[1] for e in expected]
    assert "exact" not in vars(step)  # datatrove's filter (and spaCy) never needed


@pytest.mark.parametrize("native_cls,params,reference", [
    (GopherQuality, GopherQualityParams(), "quality"),
    (GopherQuality, GopherQualityParams(exact_margin=0), "quality"),
    (GopherRepetition, GopherRepetitionParams(), "repetition"),
    (GopherRepetition, GopherRepetitionParams(exact_margin=0), "repetition"),
])
def test_native_gopher_decides_like_datatrove(native_cls, params, reference):
    texts = sample_texts()
    result = built(native_cls, params).keep(batch_of(texts))
    expected = datatrove_decisions(reference)
    expected_keep = np.array([e if isinstance(e, bool) else e[0] for e in expected])
    assert (result.keep == expected_keep).mean() >= 0.999
    assert 0 < result.keep.sum() < len(texts)  # the sample has both kinds
    for got, exp, kept in zip(result.reasons, expected, result.keep):
        if not kept and isinstance(exp, tuple):
            assert got == exp[1]


def test_datatrove_adapter_is_datatrove():
    texts = sample_texts()[:200]
    step = built(DatatroveFilter, DatatroveParams(name="C4QualityFilter", params={"filter_no_terminal_punct": False}))
    result = step.keep(batch_of(texts))
    from datatrove.pipeline.filters import C4QualityFilter

    ref = C4QualityFilter(filter_no_terminal_punct=False)
    expected = [ref.filter(Document(text=t, id=str(i))) for i, t in enumerate(texts)]
    assert result.keep.tolist() == [e if isinstance(e, bool) else e[0] for e in expected]


def test_datatrove_adapter_rejects_unknown_filters_and_params():
    with pytest.raises(ValueError, match="no filter 'NopeFilter'"):
        DatatroveFilter.check(DatatroveParams(name="NopeFilter"))
    with pytest.raises(ValueError, match="GopherQualityFilter"):
        DatatroveFilter.check(DatatroveParams(name="GopherQualityFilter", params={"min_words": 3}))


def test_length_filter_reasons():
    texts = ["one two three", "word " * 60, "word " * 40 + "x" * 5000]
    step = built(LengthFilter, LengthParams(min_words=5, max_words=50, max_chars=1000))
    result = step.keep(batch_of(texts))
    assert result.keep.tolist() == [False, False, False]
    assert result.reasons.tolist() == ["too_few_words", "too_many_words", "too_many_chars"]
    with pytest.raises(ValueError, match="larger than"):
        LengthFilter.check(LengthParams(min_words=9, max_words=2))


def test_normalize_keeps_indentation_and_fixes_the_rest():
    code = [t for t in sample_texts() if t.startswith(('"""', "#", "import", "r\"\"\""))][0]
    step = built(UnicodeNormalize, UnicodeParams())
    out = step.process(batch_of([code, "Cafe\u0301\u00a0bar\r\nx \t\n\n\n\n\ny\x00"]))
    texts = out.column("text").to_pylist()
    assert "\n    " in texts[0]  # indentation survives
    assert texts[1] == "Caf\u00e9 bar\nx\n\ny"


def dropped(step, batches: list[pa.RecordBatch], parts: int = 1) -> dict[tuple[int, int], str]:
    return {(d["task"], d["row"]): d["reason"] for d in decisions(step, batches, parts).to_pylist()}


@pytest.mark.parametrize("parts", [1, 3])
def test_exact_dedup_keeps_first_copy_across_tasks(parts):
    texts = sample_texts()[:50]
    step = built(ExactDedup, ExactParams())
    second = batch_of([texts[3].upper().replace(" ", "  "), "something else entirely", texts[7]])
    assert dropped(step, [batch_of(texts), second], parts) == {(1, 0): "exact_duplicate", (1, 2): "exact_duplicate"}
    raw = built(ExactDedup, ExactParams(normalize=False))
    assert dropped(raw, [batch_of(texts), batch_of([texts[3].upper(), texts[7]])], parts) == {(1, 1): "exact_duplicate"}
