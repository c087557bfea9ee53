"""dedup.exact: keep the first copy of each normalized text in the whole corpus.

Normalization (on by default) lowercases, drops punctuation and symbols and
collapses whitespace, so copies that differ only in case, spacing or
punctuation count as one. "First" is input order: task by task, row by row,
so the survivor is the same on every run.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from curate.engine.step import FilterResult, GlobalStep, Params, register


class ExactParams(Params):
    normalize: bool = True


def content_hashes(text: pa.Array, normalize: bool) -> np.ndarray:
    if normalize:
        text = pc.utf8_lower(text)
        text = pc.replace_substring_regex(text, r"[\pP\pS\s]+", " ")
        text = pc.utf8_trim_whitespace(text)
    return np.fromiter((xxhash.xxh3_64_intdigest(t) for t in text.to_pylist()), dtype=np.uint64,
                       count=len(text))


@register("dedup.exact")
class ExactDedup(GlobalStep):
    """Remove documents whose (normalized) text already appeared earlier in the corpus."""

    Params = ExactParams

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        return pa.table({"hash": content_hashes(batch.column("text"), self.params.normalize)})

    def decide(self, keys: Iterable[pa.Table]) -> Iterable[FilterResult]:
        per_task = [k.column("hash").to_numpy() if k.num_rows else np.empty(0, np.uint64) for k in keys]
        hashes = np.concatenate(per_task) if per_task else np.empty(0, np.uint64)
        keep = np.zeros(len(hashes), dtype=bool)
        _, first = np.unique(hashes, return_index=True)
        keep[first] = True
        start = 0
        for task_hashes in per_task:
            end = start + len(task_hashes)
            task_keep = keep[start:end]
            yield FilterResult(task_keep, np.where(task_keep, None, "exact_duplicate").astype(object))
            start = end
