"""The Gopher filters' and the extractor's shortcuts give what the plain algorithms give: infixes tried only
where one can start, repeated n-grams scanned only where they repeat, packed statistics summed past the
cache's limit, texts without words decided without spaCy, and label lines found by their first word."""

from __future__ import annotations

import random
import re

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

import curate.filters.gopher as gopher
from curate.extract.maintext import _tidy
from curate.filters.gopher import GopherQuality, GopherQualityParams, _dup_ngram_chars, _word_ids
from curate.filters.regex_start import start_class
from curate.filters.words import WordSplitter, _compiled, tokenizer_rules
from tests.test_steps import batch_of, built, sample_texts


def test_infixes_tried_where_they_can_start_are_finditers():
    splitter = WordSplitter("en")
    finditer = _compiled(tokenizer_rules("en")["infix"]).finditer
    rng = random.Random(3)
    pool = "aZ5.,-–—~:<>=/+*^…'\"()[]é中°→🙂𝄞"
    strings = [w for t in sample_texts()[:300] for w in t.split()]
    strings += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 14))) for _ in range(20_000)]
    for string in strings:
        assert [m.span() for m in splitter.infixes(string)] == [m.span() for m in finditer(string)], string


def test_start_class_holds_every_first_character_or_gives_up():
    starts = re.compile(start_class(re.compile(r"(?<=[0-9])[+*](?=\d)|(?:--|~)|\.\.+|x{2,}|[\U0001F600-\U0001F64F]")))
    assert [c for c in "+*-~.x" if starts.match(c)] == list("+*-~.x") and starts.match("🙂")
    assert not any(starts.match(c) for c in "ab05,")
    for nullable in (r"a?", r"a|b*", r"(?:a|)", r"(?<=a)"):
        assert start_class(re.compile(nullable)) is None
    assert start_class(re.compile(r"[^a]")) is None and start_class(re.compile(r".")) is None


def test_duplicated_ngram_chars_are_datatroves():
    """One-letter words: a joined n-gram names its words, so datatrove's string count is the reference."""
    rng = random.Random(7)
    for _ in range(400):
        words = [rng.choice("abcd"[: rng.randint(1, 4)]) for _ in range(rng.randint(0, 60))]
        ids = _word_ids(words)
        lengths = ids * 0 + 1
        for n in range(2, 11):
            assert _dup_ngram_chars(ids, lengths, n) == find_all_duplicate(words, n), (words, n)


def test_text_without_words_is_a_short_doc_without_spacy():
    texts = ["", " \n\t ", "\u3000\u2028"]
    step = built(GopherQuality, GopherQualityParams())
    result = step.keep(batch_of(texts))
    reference = GopherQualityFilter()
    assert [(k, r) for k, r in zip(result.keep, result.reasons)] == [
        reference.filter(Document(text=t, id=str(i))) for i, t in enumerate(texts)]
    assert "exact" not in vars(step)


def test_quality_statistics_past_the_cache_limit(monkeypatch):
    texts = sample_texts()[:150]
    expected = built(GopherQuality, GopherQualityParams()).keep(batch_of(texts))
    monkeypatch.setattr(gopher, "CACHE_LIMIT", 50)
    step = built(GopherQuality, GopherQualityParams())
    result = step.keep(batch_of(texts))
    assert len(step.info) == 50
    assert result.keep.tolist() == expected.keep.tolist() and result.reasons.tolist() == expected.reasons.tolist()


@pytest.mark.parametrize("line,dropped", [
    ("Advertisement", True), ("Share this article", True), ("Facebook · Twitter · Email", True),
    ("Share your thoughts below", False), ("Print the report", False), ("—", False), ("Ad hoc", False),
])
def test_label_and_share_lines(line, dropped):
    text = f"A first line of the page that says something.\n{line}\nThe last line."
    assert (line not in _tidy(text, None, set()).split("\n")) == dropped
