"""dedup.minhash: near-duplicate documents removed across the whole corpus (MinHash + LSH).

Text -> words: lowercased; punctuation, symbols, whitespace and control characters separate words;
digit runs fold to `0` if `fold_digits`. Scripts written without spaces (Han, Hiragana, Katakana,
Thai, Lao, Khmer, Myanmar, Tibetan) are shingled by characters: each such character is a word of its
own. Words -> shingles: every run of `ngram` consecutive words; a document with fewer words has no
shingles, is counted as `no_shingles` and kept (exact copies of short documents are `dedup.exact`'s).

Shingles -> signature: each shingle has a 32-bit hash (`shingle_hash` says which, in plain Python);
the signature is datasketch's `MinHash` (scheme affine32, the same `seed` and `num_perm`) of those
hashes, computed for a whole batch at once with numpy. Signature -> keys: one per (document, band),
the band's `rows` values hashed into a bucket; its top 32 bits are the partition key, so one reduce
range holds whole buckets. Reduce: documents sharing a bucket are candidate pairs (in (task, row)
order, each against the bucket's first and the `WINDOW` before it, so a bucket of everything costs
linear time). `verify` decides which candidates are duplicates:
- `exact` (default): the share of equal signature values (on their low 8 bits, corrected for chance;
  with 128 permutations its standard deviation near 0.8 is ~0.035) settles pairs far from the
  threshold (`MARGIN` = 0.15, over 4 standard deviations either side); the pairs in between are
  read back (engine/documents.py) and decided by the exact Jaccard of their shingle sets, each pair
  in one reduce range only (the one of the lowest band it shares).
- `estimate`: the estimate alone (pairs within ~0.05 of the threshold are decided by chance).
- `none`: every candidate pair is a duplicate (LSH alone).
Decide: connected components of the duplicate pairs; each cluster keeps one document (`keep`),
drops the others with `near_duplicate_of:<kept id>` and marks the kept one with `dup_cluster` (its
own id) and `dup_cluster_size`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from curate.engine.documents import Documents
from curate.engine.schema import as_numpy
from curate.engine.step import GlobalStep, Params, register

M64 = (1 << 64) - 1
P_BYTE = 0x100000001B3  # the polynomial bases of a word's bytes and of a shingle's (or line's) words
P_WORD = 0x9E3779B97F4A7C15
BAND_SALT = np.uint64(0xD6E8FEB86659FD93)
NO_SPACES = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
WORD_BYTE = np.zeros(256, dtype=bool)  # ASCII letters and digits; bytes of other characters left by `normalize`
WORD_BYTE[[*range(ord("a"), ord("z") + 1), *range(ord("0"), ord("9") + 1), *range(0x80, 0x100)]] = True
CHUNK = 1 << 20  # values hashed at once: bounds the temporary arrays, whatever one document holds
BLOCK = 8192  # shingles permuted at once
WINDOW = 8  # a bucket's document is compared with its first and the WINDOW documents before it
ID_BITS = 40  # a document is task << ID_BITS | row
CHANCE = 1 / 256  # two different minima agree on their low 8 bits
MARGIN = 0.15  # `verify: exact` reads back the pairs whose estimate is this close to the threshold


def normalize(text: pa.Array, fold_digits: bool) -> pa.Array:
    """Lowercase; non-ASCII separators (punctuation, symbols, spaces, controls) become spaces and
    characters of scripts without spaces get spaces around them. ASCII punctuation is left to `words`."""
    text = pc.utf8_lower(text.cast(pa.large_string()).fill_null(""))
    if fold_digits:
        text = pc.replace_substring_regex(text, r"\p{Nd}+", "0")
    wide = pc.invert(pc.string_is_ascii(text))
    if pc.any(wide).as_py():
        spaced = pc.replace_substring_regex(pc.filter(text, wide), rf"([{NO_SPACES}])|[^\x00-\x7f\pL\pN\pM]", r" \1 ")
        text = pc.replace_with_mask(text, wide, spaced)
    return text


def words(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A normalized string array's words: its bytes, each word's [start, end) in them, and each row's
    first word (one more entry at the end: the number of words)."""
    offsets = np.frombuffer(text.buffers()[1], np.int64, len(text) + 1, text.offset * 8)
    body = text.buffers()[2]
    data = np.frombuffer(body, np.uint8)[offsets[0]:offsets[-1]] if body is not None else np.zeros(0, np.uint8)
    offsets = offsets - offsets[0]
    inside = WORD_BYTE[data]
    cut = np.zeros(len(data) + 1, dtype=bool)
    cut[offsets] = True
    before, after = np.zeros_like(inside), np.zeros_like(inside)
    before[1:], after[:-1] = inside[:-1], inside[1:]
    starts = np.flatnonzero(inside & (cut[:-1] | ~before))
    ends = np.flatnonzero(inside & (cut[1:] | ~after)) + 1
    return data, starts, ends, np.searchsorted(starts, offsets)


_POWERS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _powers(base: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """base**i and base**-i mod 2**64 for i < n (at least), cached."""
    if base not in _POWERS or len(_POWERS[base][0]) < n:
        size = max(n, 1 << 16)
        table = [np.full(size, b, np.uint64) for b in (base, pow(base, -1, 1 << 64))]
        for t in table:
            t[0] = 1
            np.cumprod(t, out=t)
        _POWERS[base] = (table[0], table[1])
    return _POWERS[base]


def span_hash(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, base: int) -> np.ndarray:
    """sum(values[j] * base**(j - start) for j in [start, end)) mod 2**64 for each span; spans in
    order and not overlapping, hashed CHUNK values at a time (a longer span piece by piece)."""
    out = np.zeros(len(starts), np.uint64)
    i = 0
    while i < len(starts):
        lo = int(starts[i])
        j = max(int(np.searchsorted(ends, lo + CHUNK, side="right")), i + 1)
        pieces = range(lo, int(ends[j - 1]), CHUNK) if j == i + 1 else [lo]
        for at in pieces:
            hi = min(at + CHUNK, int(ends[j - 1])) if j == i + 1 else int(ends[j - 1])
            power, inverse = _powers(base, hi - at + 1)
            sums = np.zeros(hi - at + 1, np.uint64)
            np.cumsum(values[at:hi].astype(np.uint64) * power[:hi - at], out=sums[1:])
            if j == i + 1:  # one span, maybe longer than CHUNK: add this piece at its place
                out[i:i + 1] += sums[-1:] * np.array([pow(base, at - lo, 1 << 64)], np.uint64)  # arrays wrap quietly
            else:
                s, e = starts[i:j] - at, ends[i:j] - at
                out[i:j] = (sums[e] - sums[s]) * inverse[s]
        i = j
    return out


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (wrapping uint64 arithmetic)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme mixes a hash before permuting."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def word_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return fmix64(span_hash(data, starts, ends, P_BYTE))


def shingle_hashes(text: pa.Array, ngram: int, fold_digits: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every row's shingle hashes (uint32, row after row) and each row's first shingle (+ the total)."""
    data, starts, ends, first_word = words(normalize(text, fold_digits))
    hashes = word_hashes(data, starts, ends)
    count = np.maximum(np.diff(first_word) - ngram + 1, 0)
    at = np.arange(len(starts)) - np.repeat(first_word[:-1], np.diff(first_word))  # a word's place in its row
    begins = np.flatnonzero(at < np.repeat(count, np.diff(first_word)))
    shingle = hashes[begins + ngram - 1]
    for k in range(ngram - 2, -1, -1):  # Horner: sum(word[k] * P_WORD**k)
        shingle = shingle * np.uint64(P_WORD) + hashes[begins + k]
    return (fmix64(shingle) >> np.uint64(32)).astype(np.uint32), np.concatenate([[0], np.cumsum(count)])


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit hash of one shingle (its normalized words joined by single spaces), in plain Python:
    a datasketch `MinHash(hashfunc=shingle_hash)` fed the same shingles has the same signature."""

    def poly(values, base):
        return sum(v * pow(base, i, 1 << 64) for i, v in enumerate(values)) & M64

    def mix(h):
        return int(fmix64(np.array([h], np.uint64))[0])

    return mix(poly([mix(poly(w, P_BYTE)) for w in shingle.split(b" ")], P_WORD)) >> 32


def signatures(hashes: np.ndarray, first: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """min over each row's shingles of (a * fmix32(h) + b) mod 2**32, one column per permutation
    (a, b); rows without shingles keep 2**32 - 1. Rows are taken in groups of similar shingle counts,
    each padded to its longest by repeating a shingle, BLOCK shingles at a time: many short rows are
    reduced across the group (one vector operation per shingle place), fewer long ones along each row."""
    a, b = (p.astype(np.uint32) for p in permutations)
    mixed = fmix32(hashes)
    count = np.diff(first)
    out = np.full((len(count), len(a)), np.uint32(M64 >> 32), np.uint32)
    buffer = np.empty(BLOCK * len(a), np.uint32)
    order = np.argsort(count, kind="stable")
    ordered = count[order]
    i = int(np.searchsorted(ordered, 1))
    while i < len(order):
        window = ordered[i:i + max(BLOCK // int(ordered[i]), 1)]
        j = i + max(int(np.count_nonzero(window * np.arange(1, len(window) + 1) <= BLOCK)), 1)
        rows, longest = order[i:j], int(ordered[j - 1])
        for lo in range(0, longest, BLOCK):  # one piece unless a row alone has more than BLOCK shingles
            x = mixed[first[rows, None] + np.minimum(np.arange(lo, min(lo + BLOCK, longest)), count[rows, None] - 1)]
            if len(rows) >= 32:  # (place, permutation, row), reduced over places
                values = np.multiply(x.T[:, None, :], a[None, :, None], out=buffer[:x.size * len(a)].reshape(x.shape[1], len(a), -1))
                np.add(values, b[None, :, None], out=values)
                low = values.min(axis=0)
            else:  # (permutation, row, place), reduced along each row
                values = np.multiply(x[None], a[:, None, None], out=buffer[:x.size * len(a)].reshape(len(a), *x.shape))
                np.add(values, b[:, None, None], out=values)
                low = values.min(axis=2)
            out[rows] = np.minimum(out[rows], low.T)
        i = j
    return out


class MinHashParams(Params):
    threshold: float = Field(0.8, gt=0, le=1)  # Jaccard similarity of shingle sets at which documents are duplicates
    ngram: int = Field(5, ge=1)  # words per shingle
    num_perm: int = Field(128, ge=2, le=1024)  # signature length
    seed: int = Field(1, ge=0)  # of the permutations, as datasketch's MinHash(seed=...)
    bands: int | None = Field(None, ge=1)  # LSH bands x rows: both, or neither (then from the threshold)
    rows: int | None = Field(None, ge=1)  # signature values per band
    fold_digits: bool = False  # digit runs read as 0
    verify: Literal["exact", "estimate", "none"] = "exact"  # how a candidate pair is confirmed (module docs)
    keep: Literal["first", "longest", "highest"] = "first"  # which document of a cluster stays
    column: str | None = None  # the column `keep: highest` ranks by (numeric; null ranks lowest)


def lsh_shape(params: MinHashParams) -> tuple[int, int]:
    """(bands, rows): as given, or datasketch's optimum for the threshold; weighted towards recall
    when pairs are verified (verification removes the extra candidates). At 0.8 and 128 permutations:
    17 x 7 for exact (a pair at 0.8 is a candidate with probability 0.98), 16 x 8, 9 x 13 for none."""
    if params.bands:
        return params.bands, params.rows
    from datasketch.lsh import _optimal_param

    weights = {"exact": (0.02, 0.98), "estimate": (0.05, 0.95), "none": (0.5, 0.5)}[params.verify]
    return _optimal_param(params.threshold, params.num_perm, *weights)


FINDINGS = pa.schema([(f"{side}_{name}", dtype) for side in "ab" for name, dtype in
                      [("task", pa.int32()), ("row", pa.int64()), ("id", pa.string()), ("rank", pa.float64())]])


@register("dedup.minhash")
class MinHashDedup(GlobalStep):
    """Keep one document of each cluster of near-duplicates (Jaccard of word n-grams >= threshold)."""

    Params = MinHashParams
    needs = {"text": pa.large_string(), "id": pa.string()}
    adds = {"dup_cluster": pa.string(), "dup_cluster_size": pa.int64()}

    @classmethod
    def check(cls, params: MinHashParams) -> None:
        if (params.bands is None) != (params.rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow from threshold)")
        if params.bands and params.bands * params.rows > params.num_perm:
            raise ValueError(f"bands x rows ({params.bands} x {params.rows}) exceeds num_perm ({params.num_perm})")
        if (params.keep == "highest") != (params.column is not None):
            raise ValueError("keep: highest needs column: NAME (and column is only for keep: highest)")

    @staticmethod
    def counted_reason(reason: str) -> str:
        return reason.partition(":")[0]  # near_duplicate_of, whatever document it names

    def setup(self) -> None:
        from datasketch import MinHash

        self.permutations = MinHash(num_perm=self.params.num_perm, seed=self.params.seed, scheme="affine32").permutations
        self.bands, self.rows = lsh_shape(self.params)

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        p = self.params
        hashes, first = shingle_hashes(batch.column("text"), p.ngram, p.fold_digits)
        counted = np.diff(first) > 0
        self.count("no_shingles", ~counted)
        docs = np.flatnonzero(counted)
        sig = signatures(hashes, first, self.permutations)[docs]
        band = sig[:, :self.bands * self.rows].reshape(len(docs), self.bands, self.rows).astype(np.uint64)
        bucket = band[:, :, -1]
        for k in range(self.rows - 2, -1, -1):
            bucket = bucket * np.uint64(P_WORD) + band[:, :, k]
        bucket = fmix64(bucket + BAND_SALT * np.arange(1, self.bands + 1, dtype=np.uint64)).ravel()
        low = np.repeat((sig & 0xFF).astype(np.uint8), self.bands, axis=0)  # the 8 low bits: uniform
        rows = np.repeat(docs, self.bands)
        table = {"row": rows, "partition_key": (bucket >> np.uint64(32)).astype(np.uint32), "bucket": bucket,
                 "band": np.tile(np.arange(self.bands, dtype=np.uint16), len(docs)),
                 "sig": pa.FixedSizeBinaryArray.from_buffers(pa.binary(p.num_perm), len(rows), [None, pa.py_buffer(low)]),
                 "id": batch.column("id").take(pa.array(rows))}
        if p.keep != "first":
            table["rank"] = np.repeat(self._rank(batch)[docs], self.bands)
        return pa.table(table)

    def _rank(self, batch: pa.RecordBatch) -> np.ndarray:
        """What `keep` maximizes: text length in bytes, or the column's value (null and NaN lowest)."""
        if self.params.keep == "longest":
            return as_numpy(pc.binary_length(batch.column("text")).fill_null(0)).astype(np.float64)
        name = self.params.column
        if name not in batch.schema.names:
            raise ValueError(f"dedup.minhash keep: highest ranks by column {name!r}, which the documents "
                             f"do not have (columns: {', '.join(batch.schema.names)})")
        values = as_numpy(batch.column(name).cast(pa.float64()).fill_null(-np.inf))
        return np.where(np.isnan(values), -np.inf, values)

    def reduce(self, keys: pa.Table, documents: Documents) -> pa.Table:
        """Candidate pairs from shared buckets, each bucket's documents in (task, row) order and each
        compared with the bucket's first and the WINDOW before it; confirmed as `verify` says; one
        row per duplicate pair."""
        if keys.num_rows == 0:
            return FINDINGS.empty_table()
        doc = (as_numpy(keys.column("task")).astype(np.int64) << ID_BITS) | as_numpy(keys.column("row"))
        bucket, band = as_numpy(keys.column("bucket")), as_numpy(keys.column("band"))
        order = np.lexsort((doc, bucket))
        ordered = bucket[order]
        head = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        head = head[np.searchsorted(head, np.arange(len(order)), side="right") - 1]  # each key's bucket's first
        left, right = [order[head]], [order]
        for gap in range(1, WINDOW + 1):
            at = np.flatnonzero(ordered[gap:] == ordered[:-gap])
            left.append(order[at])
            right.append(order[at + gap])
        left, right = np.concatenate(left), np.concatenate(right)
        left, right = left[doc[left] != doc[right]], right[doc[left] != doc[right]]
        pair = np.lexsort((band[left], doc[right], doc[left]))  # a pair's lowest band here first
        left, right = left[pair], right[pair]
        first = np.ones(len(left), dtype=bool)
        first[1:] = (doc[left[1:]] != doc[left[:-1]]) | (doc[right[1:]] != doc[right[:-1]])
        left, right = left[first], right[first]
        if self.params.verify != "none":
            agree = self._agreement(keys.column("sig").combine_chunks(), left, right)
            estimate = (agree.sum(axis=1) / self.params.num_perm - CHANCE) / (1 - CHANCE)
            similar = estimate >= self.params.threshold
            if self.params.verify == "exact":
                similar = self._exact(keys, documents, left, right, estimate, agree, band[left])
            left, right = left[similar], right[similar]
        rank = as_numpy(keys.column("rank")) if "rank" in keys.schema.names else np.zeros(keys.num_rows)
        columns = {}
        for side, at in (("a", left), ("b", right)):
            columns |= {f"{side}_task": as_numpy(keys.column("task"))[at], f"{side}_row": as_numpy(keys.column("row"))[at],
                        f"{side}_id": keys.column("id").take(pa.array(at)), f"{side}_rank": rank[at]}
        return pa.table(columns, schema=FINDINGS)

    def _agreement(self, sig: pa.FixedSizeBinaryArray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Pairs of keys x permutations: whether the low bytes of their signature values agree."""
        k = self.params.num_perm
        sig = np.frombuffer(sig.buffers()[1], np.uint8, len(sig) * k, sig.offset * k).reshape(len(sig), k)
        step = 1 << 17  # pairs compared at once (16 MiB of comparisons at 128 permutations)
        return np.concatenate([sig[left[i:i + step]] == sig[right[i:i + step]] for i in range(0, len(left), step)]
                              or [np.zeros((0, k), bool)])

    def _exact(self, keys: pa.Table, documents: Documents, left: np.ndarray, right: np.ndarray,
               estimate: np.ndarray, agree: np.ndarray, band: np.ndarray) -> np.ndarray:
        """Which pairs are duplicates: sure by the estimate, or by the exact Jaccard of their shingle
        sets when the estimate is within MARGIN of the threshold. Such a pair is read back only in the
        range of the lowest band whose values it shares (all that band's low bytes agree), so that
        no two reduce ranges read the same pair."""
        t = self.params.threshold
        similar = estimate >= t + MARGIN
        shared = agree[:, :self.bands * self.rows].reshape(len(left), self.bands, self.rows).all(axis=2)
        check = np.flatnonzero((estimate >= t - MARGIN) & ~similar & (shared.argmax(axis=1) == band))
        if len(check) == 0:
            return similar
        task, row = as_numpy(keys.column("task")), as_numpy(keys.column("row"))
        ends = [(task[e].astype(np.int64) << ID_BITS) | row[e] for e in (left[check], right[check])]
        docs = np.unique(np.concatenate(ends))
        sets = []
        for one in np.unique(docs >> ID_BITS):
            rows = docs[(docs >> ID_BITS) == one] & ((1 << ID_BITS) - 1)
            hashes, first = shingle_hashes(documents.take(int(one), rows, "text"), self.params.ngram, self.params.fold_digits)
            sets += [np.unique(hashes[first[i]:first[i + 1]]) for i in range(len(rows))]
        a, b = (np.searchsorted(docs, e) for e in ends)
        for k, i, j in zip(check, a, b):
            both = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
            similar[k] = both >= t * (len(sets[i]) + len(sets[j]) - both)
        return similar

    def decide(self, findings: pa.Table) -> pa.Table:
        """Clusters = connected components of the pairs; each keeps its highest rank (then lowest
        (task, row)) and drops the rest."""
        if findings.num_rows == 0:
            return self.decision_schema().empty_table()
        ends = [(as_numpy(findings.column(f"{s}_task")).astype(np.int64) << ID_BITS) | as_numpy(findings.column(f"{s}_row"))
                for s in "ab"]
        docs, at = np.unique(np.concatenate(ends), return_index=True)
        ids = pa.concat_arrays([findings.column(f"{s}_id").combine_chunks() for s in "ab"]).take(pa.array(at))
        rank = np.concatenate([as_numpy(findings.column(f"{s}_rank")) for s in "ab"])[at]
        a, b = (np.searchsorted(docs, e) for e in ends)
        graph = csr_matrix((np.ones(len(a), bool), (a, b)), shape=(len(docs), len(docs)))
        _, cluster = connected_components(graph, directed=False)
        order = np.lexsort((docs, -rank, cluster))
        head = np.ones(len(order), dtype=bool)
        head[1:] = cluster[order[1:]] != cluster[order[:-1]]
        kept = np.zeros(cluster.max() + 1 if len(cluster) else 0, np.int64)
        kept[cluster[order[head]]] = order[head]
        keeper = kept[cluster]
        kept_id = ids.take(pa.array(keeper))
        is_kept = keeper == np.arange(len(docs))
        reason = pc.if_else(pa.array(is_kept), pa.nulls(len(docs), pa.string()),
                            pc.binary_join_element_wise("near_duplicate_of:", kept_id, ""))
        return pa.table({"task": (docs >> ID_BITS).astype(np.int32), "row": docs & ((1 << ID_BITS) - 1),
                         "reason": reason, "dup_cluster": kept_id,
                         "dup_cluster_size": np.bincount(cluster)[cluster].astype(np.int64)})
