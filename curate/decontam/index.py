"""The benchmarks' n-gram index for decontam.ngram: built once, cached, and scanned batch by batch.

An n-gram is `n` consecutive normalized words (`unit: words`, words.py) or `n` consecutive characters
of the normalized text, its words joined by single spaces (`unit: chars`). Each benchmark item (its
`fields` joined by a space) gives its n-grams, hashed to uint64 and held as one sorted numpy array
pointing at the items (CSR), cached under ~/.cache/gristmill/decontam by the benchmarks' content hash
and the settings. An item shorter than n is matched whole, as a run of its own number of words, unless
it has fewer than `min_tokens` words (too short to tell apart from ordinary text: skipped, logged).

Windows that say nothing about a benchmark are not indexed: word windows (and short items) with fewer
than 3 words of two letters (half, for items under 6 words), such as `0 1 2 3 4 5 6 7 8 9 a b c` or a
grid of 0s and 1s, which appear in any code or table; character windows less than half letters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.decontam.benchmarks import content_hash, item_texts, read_items
from curate.decontam.words import HashSet, char_grams, normalized, split
from curate.engine.step import Params
from curate.filters.cache import cache_dir

log = logging.getLogger(__name__)
VERSION = 8  # bump when normalization or hashing changes, so cached indexes are rebuilt
PRIME = np.uint64(0x100000001B3)


def telling_words(length):
    """Telling words (two letters or more) a window of `length` words needs: 3, or half of a shorter item's."""
    return np.minimum(3, (np.asarray(length) + 1) // 2)


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


def word_windows(norm: pa.Array, rows: np.ndarray, firsts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Character windows (row, first character, `n` characters) of normalized text as (first word,
    words): the words they touch."""
    first_word, count = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
    for r in np.unique(rows):
        sel = rows == r
        b = np.frombuffer(norm[int(r)].as_py().encode(), np.uint8)
        spaces = (np.cumsum((b & 0xC0) != 0x80) - 1)[b == 32]  # the character index of each space
        first_word[sel] = np.searchsorted(spaces, firsts[sel], "right")
        count[sel] = np.searchsorted(spaces, firsts[sel] + n - 1, "left") - first_word[sel] + 1
    return first_word, count


def _lookup(sorted_hash, sorted_item, grams, rows, starts):
    """(row, item, gram hash, first word) for every window whose hash the index holds, one per item it names."""
    lo = np.searchsorted(sorted_hash, grams, "left")
    hit = lo < len(sorted_hash)
    hit[hit] = sorted_hash[lo[hit]] == grams[hit]
    lo, grams, rows, starts = lo[hit], grams[hit], rows[hit], starts[hit]
    hi = np.searchsorted(sorted_hash, grams, "right")
    reps = hi - lo
    at = np.repeat(lo - np.concatenate([[0], np.cumsum(reps)[:-1]]), reps) + np.arange(reps.sum())
    return np.repeat(rows, reps), sorted_item[at], np.repeat(grams, reps), np.repeat(starts, reps)


class Index:
    """Sorted n-gram hashes, each pointing at its items, plus per short length the same for items
    matched whole; the benchmarks' words (a window holding another word cannot match)."""

    def __init__(self, arrays: dict[str, np.ndarray], n: int, unit: str):
        self.a, self.n, self.unit = arrays, n, unit
        self.ids = arrays["ids"]
        self.sizes = arrays["sizes"]  # distinct n-grams per item (1 for an item matched whole)
        self.lengths = sorted({int(k) for k in arrays["short_len"]})
        self.vocab = HashSet(arrays["vocab"])
        self.grams = HashSet(np.unique(arrays["hash"])) if unit == "chars" else None

    @classmethod
    def build(cls, p: Params) -> Index:
        """From the step's params (ngram.NgramParams: benchmarks, unit, n, min_tokens)."""
        ids, texts = [], []
        for bench in p.benchmarks:
            i, t = item_texts(bench, read_items(bench))
            ids += i
            texts += t
        text = pa.array(texts, pa.large_string())
        tokens, telling, lengths = split(text)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        informative = np.concatenate([[0], np.cumsum(telling)])
        if p.unit == "words":
            hashes, item, first = ngrams(tokens, lengths, p.n)
            at_word = starts[item] + first
            keep = informative[at_word + p.n] - informative[at_word] >= telling_words(p.n)
            size = lengths
        else:
            norm = normalized(text)
            hashes, item, _, letters = char_grams(norm, p.n)
            keep = 2 * letters >= p.n
            size = pc.utf8_length(norm).to_numpy().astype(np.int64)
        pairs = np.unique(np.stack([hashes[keep], item[keep].astype(np.uint64)]), axis=1)
        sizes = np.bincount(pairs[1].astype(np.int64), minlength=len(ids))
        if skipped := int((lengths < p.min_tokens).sum()):
            log.warning("decontam.ngram: %d benchmark items have fewer than %d words and are not checked",
                        skipped, p.min_tokens)
        short = np.flatnonzero((size < p.n) & (lengths >= p.min_tokens))
        short = short[informative[starts[short] + lengths[short]] - informative[starts[short]] >= telling_words(lengths[short])]
        short_hash = np.array([ngrams(tokens[starts[i]:starts[i] + lengths[i]], lengths[i:i + 1],
                                      int(lengths[i]))[0][0] for i in short], np.uint64)
        sizes[short] = 1
        order = np.lexsort((short, short_hash))
        return cls({"hash": pairs[0], "item": pairs[1].astype(np.int32), "sizes": sizes,
                    "short_hash": short_hash[order], "short_item": short[order].astype(np.int64),
                    "short_len": lengths[short][order].astype(np.int64), "ids": np.array(ids, dtype=str),
                    "vocab": np.unique(tokens)}, p.n, p.unit)

    @classmethod
    def load(cls, p: Params) -> Index:
        """From the cache, keyed by the benchmarks' bytes and the settings; built and saved if absent."""
        key = hashlib.sha256(json.dumps([VERSION, p.n, p.unit, p.min_tokens]).encode())
        for bench in p.benchmarks:
            key.update(json.dumps([bench.name, bench.fields, bench.id_field]).encode())
            key.update(content_hash(bench))
        path = cache_dir() / "decontam" / f"{key.hexdigest()[:32]}.npz"
        if path.exists():
            with np.load(path) as z:
                return cls(dict(z), p.n, p.unit)
        index = cls.build(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **index.a)
        os.replace(tmp, path)
        return index

    def _windows(self, text: pa.Array) -> list[tuple]:
        """(rows, items, gram hashes, first words, words per window) of every matched window."""
        if self.unit == "words" or self.lengths:
            tokens, _, lengths = split(text)
            known = self.vocab.contains(tokens)
        if self.unit == "words":
            found = [(*_lookup(self.a["hash"], self.a["item"], *ngrams(tokens, lengths, self.n, known)), self.n)]
        else:
            norm = normalized(text)
            grams, rows, firsts, _ = char_grams(norm, self.n, self.grams)
            rows, items, grams, firsts = _lookup(self.a["hash"], self.a["item"], grams, rows, firsts)
            found = [(rows, items, grams, *word_windows(norm, rows, firsts, self.n))]
        for k in self.lengths:
            sel = self.a["short_len"] == k
            found.append((*_lookup(self.a["short_hash"][sel], self.a["short_item"][sel],
                                   *ngrams(tokens, lengths, k, known)), k))
        return [np.concatenate([np.broadcast_to(f[i], f[0].shape) for f in found]) for i in range(5)]

    def scan(self, text: pa.Array):
        """Per document: the ids of the items it overlaps and the largest fraction of one item's
        n-grams; and the matched windows as (row, first word, words) arrays."""
        rows, items, grams, starts, sizes = self._windows(text)
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
