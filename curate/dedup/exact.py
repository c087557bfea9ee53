"""dedup.exact: keep the first copy of each normalized text in the whole corpus.

Normalization (on by default) lowercases, drops punctuation and symbols and
collapses whitespace, so copies that differ only in case, spacing or
punctuation count as one. "First" is input order: task by task, row by row,
so the survivor is the same on every run, however the keys are partitioned.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from curate.engine.documents import Documents
from curate.engine.schema import as_numpy
from curate.engine.step import GlobalStep, Params, register


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
        hashes = content_hashes(batch.column("text"), self.params.normalize)
        return pa.table({"row": np.arange(batch.num_rows, dtype=np.int64), "hash": hashes,
                         "partition_key": (hashes >> np.uint64(32)).astype(np.uint32)})

    def reduce(self, keys: pa.Table, documents: Documents) -> pa.Table:
        """Every copy but the first of each hash, as rows to drop."""
        hashes, task, row = (as_numpy(keys.column(c)) for c in ("hash", "task", "row"))
        order = np.lexsort((row, task, hashes))
        later = order[1:][hashes[order[1:]] == hashes[order[:-1]]]
        return pa.table({"task": task[later], "row": row[later],
                         "reason": pa.repeat(pa.scalar("exact_duplicate"), len(later))})
