"""Words of text for decontam.ngram: normalized, hashed and counted per row in one compiled pass.

Normalization: Unicode NFKC, lowercase; punctuation, symbols, whitespace and control characters
separate words. A run of ASCII letters and digits is a word, lowercased and hashed by a loop compiled
with numba (most text is ASCII); a run holding non-ASCII bytes is normalized by Arrow's Unicode
functions, once per distinct run in the batch, and becomes zero or more words. A word's hash is
FNV-1a of its UTF-8 bytes, mixed by MurmurHash3's finalizer; a word is `telling` when it holds two
letters or more (runs of digits and single letters say nothing about where a text comes from).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEPARATOR = np.ones(256, np.bool_)  # ASCII bytes other than letters and digits; bytes >= 0x80 are not
SEPARATOR[[*range(48, 58), *range(65, 91), *range(97, 123), *range(128, 256)]] = False
LOWER = np.arange(256, dtype=np.uint8)
LOWER[65:91] += 32
LETTER = np.zeros(256, np.bool_)
LETTER[[*range(65, 91), *range(97, 123)]] = True


@numba.njit(cache=True, nogil=True)
def _hash(data, lo, hi, lower):
    h = np.uint64(0xCBF29CE484222325)
    for i in range(lo, hi):
        h = (h ^ np.uint64(lower[data[i]])) * np.uint64(0x100000001B3)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def _split(data, offsets, separator, lower, letter):
    """Per word: hash and whether it is telling; words per row; and, for each word holding non-ASCII
    bytes (hash 0 here), its place among the words and its bytes [lo, hi)."""
    rows = len(offsets) - 1
    cap = len(data) // 2 + rows + 1
    hashes, telling = np.empty(cap, np.uint64), np.empty(cap, np.bool_)
    wide_at, wide_lo, wide_hi = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)
    lengths = np.zeros(rows, np.int64)
    w = m = 0
    for r in range(rows):
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            if separator[data[i]]:
                i += 1
                continue
            lo, letters, wide = i, 0, False
            while i < end and not separator[data[i]]:
                wide |= data[i] >= 128
                letters += letter[data[i]]
                i += 1
            if wide:
                wide_at[m], wide_lo[m], wide_hi[m] = w, lo, i
                m += 1
                hashes[w], telling[w] = 0, False
            else:
                hashes[w], telling[w] = _hash(data, lo, i, lower), letters >= 2
            w += 1
            lengths[r] += 1
    return hashes[:w], telling[:w], lengths, wide_at[:m], wide_lo[:m], wide_hi[:m]


@numba.njit(cache=True, nogil=True)
def _wide_runs(data, offsets, separator):
    """[lo, hi) of every run of non-separator bytes within a row that holds a non-ASCII byte."""
    lo, hi = np.empty(len(data) // 2 + 1, np.int64), np.empty(len(data) // 2 + 1, np.int64)
    m = 0
    for r in range(len(offsets) - 1):
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            if separator[data[i]]:
                i += 1
                continue
            start, wide = i, False
            while i < end and not separator[data[i]]:
                wide |= data[i] >= 128
                i += 1
            if wide:
                lo[m], hi[m] = start, i
                m += 1
    return lo[:m].copy(), hi[:m].copy()


@numba.njit(cache=True, nogil=True)
def _hash_rows(data, offsets, lower):
    out = np.empty(len(offsets) - 1, np.uint64)
    for r in range(len(out)):
        out[r] = _hash(data, offsets[r], offsets[r + 1], lower)
    return out


@numba.njit(cache=True, nogil=True)
def _insert(table, bits, values):
    mask, bit_mask = np.uint64(len(table) - 1), np.uint64(len(bits) * 64 - 1)
    for v in values:
        b = (v >> np.uint64(32)) & bit_mask
        bits[b >> np.uint64(6)] |= np.uint64(1) << (b & np.uint64(63))
        j = v & mask
        while table[j] != 0 and table[j] != v:
            j = (j + np.uint64(1)) & mask
        table[j] = v


@numba.njit(cache=True, nogil=True)
def _has(table, bits, v):
    """Whether v is in the table; most values that are not stop at one bit of `bits`, which fits in cache."""
    b = (v >> np.uint64(32)) & np.uint64(len(bits) * 64 - 1)
    if (bits[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1) == 0:
        return False
    mask = np.uint64(len(table) - 1)
    j = v & mask
    while table[j] != 0:
        if table[j] == v:
            return True
        j = (j + np.uint64(1)) & mask
    return False


@numba.njit(cache=True, nogil=True)
def _member(hashes, table, bits):
    out = np.zeros(len(hashes), np.bool_)
    for i in range(len(hashes)):
        out[i] = _has(table, bits, hashes[i])
    return out


@numba.njit(cache=True, nogil=True)
def _join(data, offsets, separator, lower, wide_data, wide_offsets, wide_idx):
    """Each row's words joined by single spaces (bytes, row offsets); the k-th run holding non-ASCII
    bytes is replaced by normalized run wide_idx[k] (wide_data[wide_offsets[i]:wide_offsets[i + 1]])."""
    rows = len(offsets) - 1
    out, out_offsets = np.empty(len(data) + len(wide_data) + rows + 1, np.uint8), np.zeros(rows + 1, np.int64)
    o = m = 0
    for r in range(rows):
        i, end, first = offsets[r], offsets[r + 1], True
        while i < end:
            if separator[data[i]]:
                i += 1
                continue
            lo, wide = i, False
            while i < end and not separator[data[i]]:
                wide |= data[i] >= 128
                i += 1
            a, b = lo, i
            if wide:
                a, b = wide_offsets[wide_idx[m]], wide_offsets[wide_idx[m] + 1]
                m += 1
                if a == b:
                    continue
            if not first:
                out[o] = 32
                o += 1
            for j in range(a, b):
                out[o] = wide_data[j] if wide else lower[data[j]]
                o += 1
            first = False
        out_offsets[r + 1] = o
    return out[:o], out_offsets


@numba.njit(cache=True, nogil=True)
def _char_grams(data, offsets, n, table, bits, power, letter):
    """Every window of n characters inside a row: its hash, row, first character and how many of its
    characters are letters (ASCII letters and non-ASCII characters). Given a non-empty `table`, only
    the windows whose hash it holds (with `bits`, see _has)."""
    cap = len(data) + 1  # at most one window per character; pages never written are never touched
    hashes, rows = np.empty(cap, np.uint64), np.empty(cap, np.int64)
    firsts, letters_in = np.empty(cap, np.int64), np.empty(cap, np.int64)
    ring = 1 << int(np.ceil(np.log2(n + 1)))  # the last n + 1 character starts, a power of two: no division
    at_byte, at_hash, at_letters = np.empty(ring, np.int64), np.empty(ring, np.uint64), np.empty(ring, np.int64)
    w = 0
    for r in range(len(offsets) - 1):
        lo, hi = offsets[r], offsets[r + 1]
        h, letters, c = np.uint64(0), 0, 0
        for i in range(lo, hi + 1):
            if i == hi or (data[i] & 0xC0) != 0x80:  # a character starts here (or the row ends)
                slot = c & (ring - 1)
                at_byte[slot], at_hash[slot], at_letters[slot] = i, h, letters
                if c >= n:
                    s = (c - n) & (ring - 1)
                    g = h - at_hash[s] * power[i - at_byte[s]]
                    g ^= g >> np.uint64(33)
                    g *= np.uint64(0xFF51AFD7ED558CCD)
                    g ^= g >> np.uint64(33)
                    if len(table) == 0 or _has(table, bits, g):
                        hashes[w], rows[w], firsts[w], letters_in[w] = g, r, c - n, letters - at_letters[s]
                        w += 1
                c += 1
                if i < hi:
                    letters += data[i] >= 0xC0 or letter[data[i]]
            if i < hi:
                h = h * np.uint64(0x100000001B3) + np.uint64(data[i])
    return hashes[:w].copy(), rows[:w].copy(), firsts[:w].copy(), letters_in[:w].copy()


def _buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A large_string array's UTF-8 bytes and its row offsets into them (nulls are empty)."""
    text = text.cast(pa.large_string()).fill_null("")
    offsets = np.frombuffer(text.buffers()[1], np.int64, len(text) + 1, text.offset * 8)
    body = text.buffers()[2]
    data = np.frombuffer(body, np.uint8)[offsets[0]:offsets[-1]] if body is not None else np.zeros(0, np.uint8)
    return data, offsets - offsets[0]


def _runs(data: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """The runs data[lo:hi] with non-ASCII bytes, each distinct one normalized once: its words (a list
    array, one row per distinct run) and which distinct run each run is."""
    spans = np.empty(2 * len(lo), np.int64)
    spans[0::2], spans[1::2] = lo, hi
    edges = np.concatenate([[0], spans])  # rows: gap, run, gap, run, ...; the runs are the odd rows
    every = pa.LargeStringArray.from_buffers(len(spans), pa.py_buffer(edges), pa.py_buffer(data))
    runs = pc.dictionary_encode(every.take(pa.array(np.arange(1, len(spans), 2))))
    d = pc.utf8_lower(pc.utf8_normalize(runs.dictionary, "NFKC"))
    d = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.replace_substring_regex(d, r"[\pP\pS\p{Cc}\s]+", " ")))
    return d, runs.indices.to_numpy()


def _normalize(data: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """The runs data[lo:hi] with non-ASCII bytes: per run, its words' hashes and telling flags (in
    order) and how many words it gives."""
    d, idx = _runs(data, lo, hi)
    words = d.flatten()
    keep = pc.greater(pc.utf8_length(words), 0).to_numpy(zero_copy_only=False)  # a run of only separators
    per = np.bincount(pc.list_parent_indices(d).to_numpy()[keep], minlength=len(d)).astype(np.int64)
    words = words.filter(pa.array(keep))
    hashes = _hash_rows(*_buffers(words), LOWER)
    telling = pc.greater_equal(pc.count_substring_regex(words, r"\pL"), 2).to_numpy(zero_copy_only=False)
    first = np.cumsum(per) - per
    count = per[idx]
    at = np.repeat(first[idx] - (np.cumsum(count) - count), count) + np.arange(count.sum())
    return hashes[at], telling[at], count


def split(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash per word of all rows in order, whether each is telling, words per row)."""
    data, offsets = _buffers(text)
    hashes, telling, lengths, wide_at, lo, hi = _split(data, offsets, SEPARATOR, LOWER, LETTER)
    if len(wide_at) == 0:
        return hashes, telling, lengths
    wide_hashes, wide_telling, count = _normalize(data, lo, hi)
    size = np.ones(len(hashes), np.int64)
    size[wide_at] = count
    place = np.cumsum(size) - size  # where each word (or a wide run's words) goes
    out_hash, out_telling = np.empty(size.sum(), np.uint64), np.empty(size.sum(), np.bool_)
    narrow = size == 1
    narrow[wide_at] = False
    out_hash[place[narrow]], out_telling[place[narrow]] = hashes[narrow], telling[narrow]
    at = np.repeat(place[wide_at] - (np.cumsum(count) - count), count) + np.arange(count.sum())
    out_hash[at], out_telling[at] = wide_hashes, wide_telling
    row = np.searchsorted(np.cumsum(lengths), wide_at, "right")
    lengths = lengths + np.bincount(row, weights=count - 1, minlength=len(lengths)).astype(np.int64)
    return out_hash, out_telling, lengths


def normalized(text: pa.Array) -> pa.Array:
    """Each row's words (as `split` finds them) joined by single spaces."""
    data, offsets = _buffers(text)
    lo, hi = _wide_runs(data, offsets, SEPARATOR)
    d, idx = _runs(data, lo, hi) if len(lo) else (pa.array([], pa.list_(pa.large_string())), np.zeros(0, np.int64))
    wide_data, wide_offsets = _buffers(pc.binary_join(d, pa.scalar(" ", pa.large_string())))
    out, out_offsets = _join(data, offsets, SEPARATOR, LOWER, wide_data, wide_offsets, idx)
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(out_offsets), pa.py_buffer(out))


def char_grams(norm: pa.Array, n: int, within: HashSet | None = None):
    """(hash, row, first character, letters) of every window of `n` characters inside a row of
    normalized text (only those whose hash is `within`, if given)."""
    data, offsets = _buffers(norm)
    power = np.full(4 * n + 1, 0x100000001B3, np.uint64)
    power[0] = 1
    np.cumprod(power, out=power)  # wraps modulo 2**64, as the hash does
    table, bits = (within.table, within.bits) if within is not None else (np.zeros(0, np.uint64),) * 2
    return _char_grams(data, offsets, n, table, bits, power, LETTER)


class HashSet:
    """A set of uint64 hashes (never 0) for fast membership: open addressing, at most 1/4 full, behind
    a one-hash Bloom filter of 16 bits per value (most absent values are told by one bit in cache)."""

    def __init__(self, values: np.ndarray):
        size = int(len(values)).bit_length()
        self.table = np.zeros(1 << max(size + 2, 4), np.uint64)
        self.bits = np.zeros(1 << max(size - 2, 0), np.uint64)  # 64 bits each
        _insert(self.table, self.bits, values)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        return _member(hashes, self.table, self.bits)
