"""decontam.ngram: find benchmark items in documents by shared word n-grams.

Text on both sides is normalized the same way (Unicode NFKC, lowercase; punctuation, symbols,
whitespace and controls separate words) and split into hashed words by words.py. Each benchmark item (its `fields` joined by
a space) gives its n-grams (default 13 words), hashed to uint64 and held as one sorted numpy array,
built in `setup()` and cached under ~/.cache/gristmill/decontam by the benchmarks' content hash. An
item shorter than n words is matched whole (as a run of its own length), unless it has fewer than
`min_tokens` words, which are too short to tell apart from ordinary text and are skipped (logged).
Windows (and short items) with fewer than 3 words of two letters (half, for items under 6 words) are
not indexed: runs of digits and single letters (`0 1 2 3 4 5 6 7 8 9 a b c`) appear in any code or table.

A document is contaminated when it shares at least one n-gram with an item. It gets `contamination`
(the ids `benchmark/item` it overlaps) and `contamination_score` (the largest fraction of one item's
distinct n-grams found in it). `action: drop` removes it with reason `contaminated:<benchmark>` of its
first matched item; `action: cut` removes the matched windows (`margin` words either side, widened to
whole whitespace-separated tokens) and keeps the rest, dropping a document left without a word of
two letters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.decontam import report
from curate.decontam.benchmarks import Benchmark, content_hash, item_texts, read_items, resolve
from curate.decontam.words import HashSet, split
from curate.engine.step import Filter, FilterResult, Params, register
from curate.filters.cache import cache_dir

log = logging.getLogger(__name__)
VERSION = 7  # bump when normalization or hashing changes, so cached indexes are rebuilt
PRIME = np.uint64(0x100000001B3)
INDEX_BYTES_PER_WORD = 128  # peak while building (measured on 0.9M words of shuffled HumanEval: 128; 12 once built)


class NgramParams(Params):
    benchmarks: list[Benchmark] = Field(min_length=1)  # names from the registry, or definitions (benchmarks.py)
    registry: str | None = None  # a YAML file of more named definitions (the shape of benchmarks.yaml)
    n: int = Field(13, ge=1)  # words per n-gram
    min_tokens: int = Field(3, ge=1)  # items shorter than this many words are skipped, not matched whole
    action: Literal["annotate", "drop", "cut"] = "annotate"  # what to do with a contaminated document
    margin: int = Field(0, ge=0)  # for cut: words removed either side of a matched window
    max_index_mb: int = Field(4096, ge=1)  # refuse benchmarks whose index would need more memory than this

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data):
        if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
            data = {**data, "benchmarks": resolve(data["benchmarks"], data.get("registry"))}
        return data


def telling_words(length):
    """Telling words (two letters or more) a window of `length` words needs: 3, or half of a shorter
    item's. An n-gram of digits and single letters (`0 1 2 3 4 5 6 7 8 9 a b c`, a grid of 0s and 1s)
    appears in any code or table and says nothing about a benchmark: no such window is indexed."""
    return np.minimum(3, (np.asarray(length) + 1) // 2)


def tokenize(text: pa.Array, vocab: HashSet):
    """(hash per normalized word of all rows in order, words per row, whether each word is in `vocab`
    (the benchmarks' words): no window holding another word can be in the index)."""
    tokens, _, lengths = split(text)
    return tokens, lengths, vocab.contains(tokens)


def ngrams(tokens: np.ndarray, lengths: np.ndarray, n: int, known: np.ndarray | None = None):
    """(hash, row, first word within the row) of every n-word window that lies inside one row (and,
    given `known`, a bool per word, only of windows whose words are all known: no other window can be
    in the index)."""
    total = len(tokens) - n + 1
    if total <= 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64)
    start = np.arange(total)
    if known is not None:
        unknown = np.concatenate([[0], np.cumsum(~known)])
        start = start[unknown[n:] == unknown[:total]]
    ends = np.cumsum(lengths)
    row = np.searchsorted(ends, start, "right")
    ok = start + n <= ends[np.minimum(row, len(ends) - 1)]
    start, row = start[ok], row[ok]
    acc = tokens[start]
    for i in range(1, n):
        acc = acc * PRIME + tokens[start + i]
    return acc, row, start - (ends - lengths)[row]


class Index:
    """Sorted n-gram hashes, each pointing at its items (CSR), plus per short length the same for
    items matched whole."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.a = arrays
        self.ids = arrays["ids"]
        self.sizes = arrays["sizes"]  # distinct n-grams per item (1 for an item matched whole)
        self.lengths = sorted({int(k) for k in arrays["short_len"]})
        self.vocab = HashSet(arrays["vocab"])

    @classmethod
    def build(cls, p: NgramParams) -> Index:
        ids, texts = [], []
        for bench in p.benchmarks:
            i, t = item_texts(bench, read_items(bench))
            ids += i
            texts += t
        tokens, telling, lengths = split(pa.array(texts, pa.large_string()))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        informative = np.concatenate([[0], np.cumsum(telling)])
        hashes, item, first = ngrams(tokens, lengths, p.n)
        at_word = starts[item] + first
        telling = informative[at_word + p.n] - informative[at_word] >= telling_words(p.n)
        hashes, item = hashes[telling], item[telling]
        pairs = np.unique(np.stack([hashes, item.astype(np.uint64)]), axis=1)
        sizes = np.bincount(pairs[1].astype(np.int64), minlength=len(ids))
        short = np.flatnonzero((lengths < p.n) & (lengths >= p.min_tokens))
        if skipped := int((lengths < p.min_tokens).sum()):
            log.warning("decontam.ngram: %d benchmark items have fewer than %d words and are not checked",
                        skipped, p.min_tokens)
        short = short[informative[starts[short] + lengths[short]] - informative[starts[short]] >= telling_words(lengths[short])]
        short_hash = np.array([ngrams(tokens[starts[i]:starts[i] + lengths[i]], lengths[i:i + 1],
                                      int(lengths[i]))[0][0] for i in short], np.uint64)
        sizes[short] = 1
        order = np.lexsort((short, short_hash))
        return cls({"hash": pairs[0], "item": pairs[1].astype(np.int32), "sizes": sizes,
                    "short_hash": short_hash[order], "short_item": short[order].astype(np.int64),
                    "short_len": lengths[short][order].astype(np.int64), "ids": np.array(ids, dtype=str),
                    "vocab": np.unique(tokens)})

    @classmethod
    def load(cls, p: NgramParams) -> Index:
        """From the cache, keyed by the benchmarks' bytes and the settings; built and saved if absent."""
        key = hashlib.sha256(json.dumps([VERSION, p.n, p.min_tokens]).encode())
        for bench in p.benchmarks:
            key.update(json.dumps([bench.name, bench.fields, bench.id_field]).encode())
            key.update(content_hash(bench))
        path = cache_dir() / "decontam" / f"{key.hexdigest()[:32]}.npz"
        if path.exists():
            with np.load(path) as z:
                return cls(dict(z))
        index = cls.build(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **index.a)
        os.replace(tmp, path)
        return index

    @staticmethod
    def _lookup(sorted_hash, sorted_item, grams, rows, starts):
        """(row, item, gram hash, first word) for every window whose hash the index holds, one per item
        it names."""
        lo = np.searchsorted(sorted_hash, grams, "left")
        hit = lo < len(sorted_hash)
        hit[hit] = sorted_hash[lo[hit]] == grams[hit]
        lo, grams, rows, starts = lo[hit], grams[hit], rows[hit], starts[hit]
        hi = np.searchsorted(sorted_hash, grams, "right")
        reps = hi - lo
        at = np.repeat(lo - np.concatenate([[0], np.cumsum(reps)[:-1]]), reps) + np.arange(reps.sum())
        return np.repeat(rows, reps), sorted_item[at], np.repeat(grams, reps), np.repeat(starts, reps)

    def scan(self, text: pa.Array, n: int):
        """Per document: the ids of the items it overlaps and the largest fraction of one item's
        n-grams; and the matched windows as (row, first word, words) arrays."""
        tokens, lengths, known = tokenize(text, self.vocab)
        found = [(*self._lookup(self.a["hash"], self.a["item"], *ngrams(tokens, lengths, n, known)), n)]
        for k in self.lengths:
            sel = self.a["short_len"] == k
            found.append((*self._lookup(self.a["short_hash"][sel], self.a["short_item"][sel],
                                        *ngrams(tokens, lengths, k, known)), k))
        rows, items, grams, starts = (np.concatenate(c) for c in list(zip(*found))[:4])
        sizes = np.concatenate([np.full(len(f[0]), f[4]) for f in found])
        items_per_doc: list[list[str]] = [[] for _ in range(len(text))]
        score = np.zeros(len(text))
        pairs, frac = np.zeros((2, 0), np.int64), np.zeros(0)
        if len(rows):
            triples = np.unique(np.stack([rows.astype(np.uint64), items.astype(np.uint64), grams]), axis=1)
            pairs, counts = np.unique(triples[:2].astype(np.int64), axis=1, return_counts=True)
            frac = np.minimum(counts / self.sizes[pairs[1]], 1.0)
            np.maximum.at(score, pairs[0], frac)
            for r, i in pairs.T:
                items_per_doc[r].append(str(self.ids[i]))
        matches = {"row": pairs[0], "item": self.ids[pairs[1]].tolist(), "overlap": frac}
        return items_per_doc, score, matches, (rows, starts, sizes)


def cut(text: str, windows: list[tuple[int, int]], margin: int) -> tuple[str, int]:
    """`text` without the words of `windows` ((first word, words) in normalized words), `margin` words
    either side, each merged span cut from its first to its last whitespace-separated token; spans
    apart only by tokens without a word of two letters (the digits the index leaves out) merge; and
    the number of merged spans."""
    raw = [t for t in pc.utf8_split_whitespace(pa.array([text])).to_pylist()[0] if t]
    _, telling_word, words_of = split(pa.array(raw, pa.large_string()))  # normalized words per raw token
    raw_of_word = np.repeat(np.arange(len(raw)), words_of)
    telling = np.concatenate([[0], np.cumsum(np.bincount(raw_of_word, weights=telling_word, minlength=len(raw)) > 0)])
    offsets, pos = [], 0
    for token in raw:
        pos = text.index(token, pos)
        offsets.append(pos)
        pos += len(token)
    spans: list[list[int]] = []  # [first raw token, last raw token]
    for a, b in sorted((max(s - margin, 0), min(s + k + margin, len(raw_of_word))) for s, k in windows):
        r0, r1 = int(raw_of_word[a]), int(raw_of_word[b - 1])
        if spans and telling[r0] - telling[spans[-1][1] + 1] <= 0:  # nothing telling between them
            spans[-1][1] = max(spans[-1][1], r1)
        else:
            spans.append([r0, r1])
    kept, last = [], 0
    for r0, r1 in spans:
        kept.append(text[last:offsets[r0]])
        last = offsets[r1] + len(raw[r1])
    return "".join(kept) + text[last:], len(spans)


@register("decontam.ngram")
class NgramDecontam(Filter):
    """Annotate, drop or cut documents that share an n-gram with a benchmark item."""

    Params = NgramParams
    needs = {"text": pa.large_string(), "id": pa.string(), "source": pa.string()}
    adds = {"contamination": pa.list_(pa.string()), "contamination_score": pa.float64()}

    @classmethod
    def check(cls, p: NgramParams) -> None:
        names = [b.name for b in p.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names must differ: {names}")
        words = 0
        for bench in p.benchmarks:
            words += sum(len(t.split()) for t in item_texts(bench, read_items(bench))[1])
        need_mb = words * INDEX_BYTES_PER_WORD / 2**20
        if need_mb > p.max_index_mb:
            raise ValueError(f"the benchmarks hold {words:,} words: indexing them needs about {need_mb:,.0f} MB "
                             f"per worker, over max_index_mb ({p.max_index_mb}); raise it if the memory is there")

    def setup(self) -> None:
        self.index = Index.load(self.params)

    def report(self, records: pa.Table, folder: Path) -> list[str]:
        index = Index.load(self.params)
        bench = np.array([i.partition("/")[0] for i in index.ids.tolist()])
        checked = {b.name: (int((bench == b.name).sum()), int(((bench == b.name) & (index.sizes > 0)).sum()))
                   for b in self.params.benchmarks}
        return report.write(report.summary(records, checked, self.params.n, self.params.action), folder)

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        if not hasattr(self, "index"):
            self.setup()
        items, score, matches, (rows, starts, sizes) = self.index.scan(batch.column("text"), self.params.n)
        flagged = np.array([bool(i) for i in items], dtype=bool)
        if len(matches["row"]):
            at = pa.array(matches["row"])
            self.record(pa.table({"id": batch.column("id").take(at), "source": batch.column("source").take(at),
                                  "item": pa.array(matches["item"], pa.string()), "overlap": matches["overlap"]}))
        self.count("contaminated_docs", flagged)
        self.count("benchmark_items_matched", [len(i) for i in items])
        batch = batch.append_column("contamination", pa.array(items, pa.list_(pa.string()))) \
                     .append_column("contamination_score", pa.array(score, pa.float64()))
        reasons = np.full(batch.num_rows, None, dtype=object)
        keep = np.ones(batch.num_rows, dtype=bool)
        if self.params.action == "drop":
            keep = ~flagged
        elif self.params.action == "cut":
            texts, cuts = batch.column("text").to_pylist(), np.zeros(batch.num_rows, np.int64)
            for r in np.flatnonzero(flagged):
                sel = rows == r
                texts[r], cuts[r] = cut(texts[r], list(zip(starts[sel], sizes[sel])), self.params.margin)
            self.count("spans_cut", cuts)
            keep = ~flagged  # drop what is left without a word
            left = pa.array([texts[r] for r in np.flatnonzero(flagged)], pa.large_string())
            _, telling, lengths = split(left)  # kept while a word of two letters is left
            rows = np.repeat(np.arange(len(lengths)), lengths)
            keep[flagged] = np.bincount(rows, weights=telling, minlength=len(lengths)) > 0
            text = pa.array(texts, pa.large_string())
            batch = batch.set_column(batch.schema.get_field_index("text"), "text", text)
        reasons[~keep] = [f"contaminated:{i[0].partition('/')[0]}" for i, k in zip(items, keep) if not k]
        return FilterResult(keep, reasons, batch)
