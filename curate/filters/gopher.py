"""filter.gopher.quality and filter.gopher.repetition: Gopher's heuristics (Rae et al. 2021, table A1),
with datatrove's parameters and decisions, several times faster.

datatrove splits words with spaCy, which dominates its cost. Here words come
from `words.WordSplitter` (spaCy's own rules, run with a per-chunk cache) and
the n-gram statistics from integer word ids with numpy. The splitter matches
spaCy's tokens on all but a handful of odd strings (19 of 7,279 real
documents, none of them changing a decision), so as a safety net a document
whose statistics land within `exact_margin` (relative, default 0.1%) of a
threshold is decided again on spaCy's exact tokens (`WordSplitter.exact_words`,
which replays spaCy's whole algorithm without importing it) with datatrove's
string statistics; only text that replay does not cover goes to datatrove's own
filter, which imports spaCy (a text without words is decided here: too short, as datatrove decides it).
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register
from curate.filters.datatrove import apply_filter
from curate.filters.words import CACHE_LIMIT, import_spacy, splitter

PARAGRAPHS = re.compile(r"\n{2,}")
LINES = re.compile(r"\n+")
FIELD_BITS = 48  # one count of the packed word statistics: room for any text's words and characters
FIELD_MASK = (1 << FIELD_BITS) - 1
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def _punctuation() -> str:
    from datatrove.utils.text import PUNCTUATION_SET

    return "".join(sorted(PUNCTUATION_SET))


def near(value: float, threshold: float | None, margin: float | None) -> bool:
    """Whether `value` is within `margin` (relative) of a set threshold; never when margin is None (exact
    statistics)."""
    return margin is not None and bool(threshold) and abs(value - threshold) <= margin * abs(threshold)


class GopherQualityParams(Params):
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] | None = None
    language: str = "en"
    exact_margin: float = Field(0.001, ge=0)  # decide with datatrove when a statistic is this close to its threshold


@register("filter.gopher.quality")
class GopherQuality(Filter):
    """Gopher quality rules (word counts and lengths, symbols, bullets, ellipses, alphabetic words, stop words)."""

    Params = GopherQualityParams

    def setup(self) -> None:
        self.stop_words = set(STOP_WORDS if self.params.stop_words is None else self.params.stop_words)
        self.punct = _punctuation()
        self.splitter = splitter(self.params.language)
        self.info: dict[str, int] = {}  # chunk -> its words' packed statistics (see `_word_packed`)
        self.words: dict[str, int] = {}  # word -> its packed statistics
        self.stops: dict[str, frozenset[str]] = {}  # cached chunk -> the stop words among its words, where any
        self.shared: dict[int, int] = {}  # one object for each distinct packed value

    @functools.cached_property
    def exact(self):
        import_spacy()  # before datatrove's word tokenizer imports it with torch
        from datatrove.pipeline.filters import GopherQualityFilter

        return GopherQualityFilter(**self.params.model_dump(exclude={"exact_margin"}))

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        return _decide_all(self, batch)

    def decide(self, text: str, words: list[str] | None, m: float | None) -> tuple[bool | tuple[bool, str], bool]:
        """(datatrove-style result, whether any statistic was within margin `m` of its threshold), from
        `words`, or where None from the splitter's words, counted per whitespace chunk."""
        p = self.params
        n_words, n, chars, alpha, stops = (self._chunk_totals(Counter(text.split())) if words is None
                                           else self._word_totals(Counter(words)))
        if not n_words:  # no chunk: datatrove finds no word either, and without min_doc_words it raises
            return ((False, "gopher_short_doc"), False) if p.min_doc_words else (True, True)
        if near(n, p.min_doc_words, m) or near(n, p.max_doc_words, m):
            return True, True
        if p.min_doc_words and n < p.min_doc_words:
            return (False, "gopher_short_doc"), False
        if p.max_doc_words and n > p.max_doc_words:
            return (False, "gopher_long_doc"), False
        avg = chars / n if n else float("nan")
        checks = [
            (avg, p.min_avg_word_length, avg < (p.min_avg_word_length or 0), "gopher_below_avg_threshold"),
            (avg, p.max_avg_word_length, avg > (p.max_avg_word_length or 0), "gopher_above_avg_threshold"),
        ]
        if p.max_symbol_word_ratio:
            hashes = text.count("#") / n_words
            ellipsis = (text.count("...") + text.count("…")) / n_words
            checks += [(hashes, p.max_symbol_word_ratio, hashes > p.max_symbol_word_ratio, "gopher_too_many_hashes"),
                       (ellipsis, p.max_symbol_word_ratio, ellipsis > p.max_symbol_word_ratio,
                        "gopher_too_many_ellipsis")]
        lines = text.splitlines()
        if lines:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
            end_ellipsis = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
            checks += [
                (bullets, p.max_bullet_lines_ratio, bullets > (p.max_bullet_lines_ratio or 1), "gopher_too_many_bullets"),
                (end_ellipsis, p.max_ellipsis_lines_ratio, end_ellipsis > (p.max_ellipsis_lines_ratio or 1),
                 "gopher_too_many_end_ellipsis"),
            ]
        if p.max_non_alpha_words_ratio:
            alpha /= n_words
            checks.append((alpha, p.max_non_alpha_words_ratio, alpha < p.max_non_alpha_words_ratio,
                           "gopher_below_alpha_threshold"))
        if p.min_stop_words:
            checks.append((len(stops), p.min_stop_words, len(stops) < p.min_stop_words, "gopher_enough_stop_words"))
        for value, threshold, fails, reason in checks:
            if threshold and near(value, threshold, m):
                return True, True
            if threshold and fails:
                return (False, reason), False
        return True, False

    def _chunk_totals(self, counts: Counter) -> tuple[int, int, int, int, set[str]]:
        """(words, words with a non-punctuation character, their characters, words with a letter, stop words)
        of a text, from its whitespace chunks and how often each occurs; each distinct chunk's statistics are
        computed once (cached for the first CACHE_LIMIT distinct chunks: the frequent ones, and no churn of
        memory once full) and summed in C."""
        info, stops = self.info, self.stops
        fresh = {chunk: self._chunk_stats(chunk) for chunk in itertools.filterfalse(info.__contains__, counts)}
        found: set[str] = set()
        for chunk in list(itertools.islice(fresh, max(CACHE_LIMIT - len(info), 0))):
            packed, stop_words = fresh.pop(chunk)
            info[chunk] = self.shared.setdefault(packed, packed)  # most chunks share a few statistics
            if stop_words:
                stops[chunk] = stop_words
        found.update(*(stop_words for _, stop_words in fresh.values()))
        found.update(*map(stops.get, counts.keys() & stops.keys()))
        total = sum(map(operator.mul, map(info.get, counts, itertools.repeat(0)), counts.values()))
        if fresh:  # chunks beyond the cache's limit
            packed = {chunk: stats[0] for chunk, stats in fresh.items()}
            total += sum(map(operator.mul, map(packed.get, counts, itertools.repeat(0)), counts.values()))
        return (*_unpacked(total), found)

    def _word_totals(self, counts: Counter) -> tuple[int, int, int, int, set[str]]:
        """As `_chunk_totals`, from words and their counts."""
        total = sum(self._word_packed(word) * count for word, count in counts.items())
        return (*_unpacked(total), self.stop_words.intersection(counts))

    def _chunk_stats(self, chunk: str) -> tuple[int, frozenset[str]]:
        """One chunk's packed statistics and the stop words among its words."""
        words = self.splitter.chunk_words(chunk)
        return sum(map(self._word_packed, words)), frozenset(self.stop_words.intersection(words))

    def _word_packed(self, word: str) -> int:
        """One word's statistics, packed (FIELD_BITS each, so that sums of packed integers sum each count):
        1, whether it has a non-punctuation character, its length if so, whether it has a letter."""
        packed = self.words.get(word)
        if packed is None:
            chars = len(word) if word.strip(self.punct) else 0
            alphabetic = word.isalpha() or any(c.isalpha() for c in word)
            packed = 1 | bool(chars) << FIELD_BITS | chars << 2 * FIELD_BITS | alphabetic << 3 * FIELD_BITS
            if len(self.words) < CACHE_LIMIT:
                self.words[word] = packed = self.shared.setdefault(packed, packed)
        return packed


def _unpacked(packed: int) -> tuple[int, int, int, int]:
    return tuple((packed >> (FIELD_BITS * i)) & FIELD_MASK for i in range(4))


class GopherRepetitionParams(Params):
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]
    language: str = "en"
    exact_margin: float = Field(0.001, ge=0)


@register("filter.gopher.repetition")
class GopherRepetition(Filter):
    """Gopher repetition rules: duplicate lines and paragraphs, top and duplicated word n-grams."""

    Params = GopherRepetitionParams

    def setup(self) -> None:
        self.splitter = splitter(self.params.language)

    @functools.cached_property
    def exact(self):
        import_spacy()  # before datatrove's word tokenizer imports it with torch
        from datatrove.pipeline.filters import GopherRepetitionFilter

        p = self.params.model_dump(exclude={"exact_margin"})
        p["top_n_grams"] = tuple(map(tuple, p["top_n_grams"]))
        p["dup_n_grams"] = tuple(map(tuple, p["dup_n_grams"]))
        return GopherRepetitionFilter(**p)

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        return _decide_all(self, batch)

    def decide(self, text: str, words: list[str] | None, m: float | None) -> tuple[bool | tuple[bool, str], bool]:
        """As GopherQuality.decide; with m None, the n-gram statistics are datatrove's own string ones."""
        p = self.params
        if not text:
            return (False, "empty"), False
        size = len(text)
        checks = []
        paragraphs = PARAGRAPHS.split(text.strip())
        dups, chars = _duplicates(paragraphs)
        checks += [(dups / len(paragraphs), p.dup_para_frac, "dup_para_frac"),
                   (chars / size, p.dup_para_char_frac, "dup_para_char_frac")]
        lines = LINES.split(text)
        dups, chars = _duplicates(lines)
        checks += [(dups / len(lines), p.dup_line_frac, "dup_line_frac"),
                   (chars / size, p.dup_line_char_frac, "dup_line_char_frac")]
        for value, threshold, reason in checks:  # exact statistics: no margin needed
            if threshold and value > threshold:
                return (False, reason), False
        words = self.splitter.words(text) if words is None else words
        checks = _string_ngram_checks(words, size, p) if m is None else _ngram_checks(words, size, p)
        for value, threshold, reason in checks:
            if near(value, threshold, m):
                return True, True
            if value > threshold:
                return (False, reason), False
        return True, False


def _ngram_checks(words: list[str], size: int, p: GopherRepetitionParams):
    """(fraction of characters, threshold, reason) of each n-gram rule, from integer word ids."""
    ids = _word_ids(words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    for n, frac in p.top_n_grams:
        if len(words) >= n:
            yield _top_ngram_chars(ids, lengths, n) / size, frac, f"top_{n}_gram"
    for n, frac in p.dup_n_grams:
        yield _dup_ngram_chars(ids, lengths, n) / size, frac, f"duplicated_{n}_n_grams"


def _string_ngram_checks(words: list[str], size: int, p: GopherRepetitionParams):
    """The same checks on joined strings, exactly as datatrove counts them (its duplicated n-grams are
    joined without a separator, so "a bc" and "ab c" count as one)."""
    for n, frac in p.top_n_grams:
        grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        if grams:
            gram, count = Counter(grams).most_common(1)[0]
            yield len(gram) * count / size, frac, f"top_{n}_gram"
    for n, frac in p.dup_n_grams:
        yield _joined_dup_chars(words, n) / size, frac, f"duplicated_{n}_n_grams"


def _joined_dup_chars(words: list[str], n: int) -> int:
    seen, repeated, idx = set(), 0, 0
    while idx < len(words) - n + 1:
        gram = "".join(words[idx:idx + n])
        if gram in seen:
            repeated += len(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return repeated


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen, dups, chars = set(), 0, 0
    for x in items:
        if x in seen:
            dups += 1
            chars += len(x)
        else:
            seen.add(x)
    return dups, chars


def _word_ids(words: list[str]) -> np.ndarray:
    """Each word's number, in the order words first appear."""
    number = {word: i for i, word in enumerate(dict.fromkeys(words))}
    return np.fromiter(map(number.__getitem__, words), dtype=np.int64, count=len(words))


def _ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """One 64-bit key per word n-gram (a polynomial hash of word ids)."""
    keys = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    for i in range(n):
        keys = keys * np.uint64(1_000_003) + ids[i: len(ids) - n + 1 + i].astype(np.uint64)
    return keys


def _top_ngram_chars(ids: np.ndarray, lengths: np.ndarray, n: int) -> int:
    """Characters covered by the most frequent n-gram, counted as datatrove does (joined with spaces)."""
    keys = _ngram_keys(ids, n)
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    start = first[best].min()  # Counter.most_common keeps first-seen order among ties
    count = counts[np.searchsorted(uniq, keys[start])]
    return int((lengths[start:start + n].sum() + n - 1) * count)


def _dup_ngram_chars(ids: np.ndarray, lengths: np.ndarray, n: int) -> int:
    """Characters in repeated n-grams, skipping past each repeat (datatrove's find_all_duplicate). Only
    n-grams that occur more than once can repeat, or be the first occurrence a repeat finds, so the scan
    visits those alone (in prose, few)."""
    if len(ids) < n:
        return 0
    keys = _ngram_keys(ids, n)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    places = np.flatnonzero(counts[inverse] > 1)
    if not len(places):
        return 0
    starts = np.concatenate([[0], np.cumsum(lengths)])
    chars = (starts[places + n] - starts[places]).tolist()
    seen, repeated, free = set(), 0, 0  # free: the first position not skipped
    for place, key, size in zip(places.tolist(), keys[places].tolist(), chars):
        if place < free:
            continue
        if key in seen:
            repeated += size
            free = place + n
        else:
            seen.add(key)
    return repeated


def _decide_all(step, batch: pa.RecordBatch) -> FilterResult:
    """Fast path per document; exact words for the ones near a threshold."""
    texts = batch.column("text").to_pylist()
    ids = batch.column("id").to_pylist()
    keep = np.ones(len(texts), dtype=bool)
    reasons = np.full(len(texts), None, dtype=object)
    for i, text in enumerate(texts):
        result, borderline = step.decide(text, None, step.params.exact_margin)
        if borderline:
            result = _exact_result(step, text, ids[i])
        ok, reason = result if isinstance(result, tuple) else (result, None)
        if not ok:
            keep[i], reasons[i] = False, reason
    return FilterResult(keep, reasons)


def _exact_result(step, text: str, ident: str) -> bool | tuple[bool, str | None]:
    """Datatrove's decision: from spaCy's exact tokens where the splitter can replay them, else (runs of
    dots, no words, text on which datatrove retries spaCy without "IS_ALPHA") from datatrove's filter,
    imported and built on the first such document (spaCy's import costs a worker ~3 s)."""
    words = None if "IS_ALPHA" in text else step.splitter.exact_words(text)
    if words:
        return step.decide(text, words, None)[0]
    return apply_filter(step, step.exact, text, ident)
