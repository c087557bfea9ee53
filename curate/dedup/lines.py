"""dedup.lines: lines (or paragraphs) repeated across many documents of the corpus removed from every
document, CCNet / Dolma style: cookie banners, navigation, licence footers, share buttons.

A line is what `separator` cuts the text into ("\\n"; "\\n\\n" for paragraphs). Lines compare as
`dedup.minhash` reads text (case, punctuation and whitespace folded; digits too if `fold_digits`), by
a 64-bit hash of their words; a line without words is never removed. A line goes once it is in more
than `max_docs` documents (a document counts once however often it repeats the line). The default,
10, is far below the hundreds of pages a site repeats its boilerplate on and above the handful of
documents that legitimately share a paragraph (a quotation, a syndicated sentence: copies of whole
documents are `dedup.minhash`'s). Sources listed in `skip_sources` (fnmatch patterns, e.g. `code/*`:
in code, `else:` or `return None` repeat everywhere and carry meaning) are left alone.

keys: one per distinct line of a document, partitioned by the line hash's top 32 bits, so a reduce
range holds every document of a line. reduce: the lines in more than max_docs documents, with those
documents. decide: per document, the line hashes to remove; a document whose every line goes is
dropped (`repeated_lines_only`). The next stage (`apply`) cuts the lines from the rest and counts
`lines_removed` and `bytes_removed` (separators included).
"""

from __future__ import annotations

import fnmatch

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curate.engine.documents import Documents
from curate.engine.schema import as_numpy
from curate.engine.step import DECISION, GlobalStep, Params, register

from .minhash import ID_BITS, P_WORD, fmix64, normalize, span_hash, word_hashes, words


class LineParams(Params):
    max_docs: int = Field(10, ge=1)  # a line in more than this many documents is removed from all of them
    separator: str = Field("\n", min_length=1)  # what cuts a text into lines ("\n\n": paragraphs)
    fold_digits: bool = True  # as CCNet: "page 1 of 3" and "page 2 of 3" are one line
    skip_sources: list[str] = []  # fnmatch patterns of sources left alone


def line_hashes(lines: pa.Array, fold_digits: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each line's 64-bit hash and whether it has words."""
    data, starts, ends, first = words(normalize(lines, fold_digits))
    spans = span_hash(word_hashes(data, starts, ends), first[:-1], first[1:], P_WORD)
    return fmix64(spans), np.diff(first) > 0


def pair_keys(row: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """(row, line hash) as one 64-bit key."""
    return fmix64(hashes + row.astype(np.uint64) * np.uint64(P_WORD))


@register("dedup.lines")
class LineDedup(GlobalStep):
    """Remove lines (or paragraphs) found in more than max_docs documents from every document."""

    Params = LineParams
    needs = {"text": pa.large_string(), "source": pa.string()}

    @classmethod
    def decision_schema(cls) -> pa.Schema:
        """Besides the usual columns, the hashes of the lines `apply` cuts from the row (no output column)."""
        return pa.schema(list({**DECISION, "remove": pa.list_(pa.uint64())}.items()))

    def _lines(self, text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        """Every line of every row: its row, hash, whether it has words, and the lines themselves."""
        split = pc.split_pattern(text.cast(pa.large_string()), self.params.separator)
        flat = split.flatten()
        hashes, worded = line_hashes(flat, self.params.fold_digits)
        return as_numpy(split.value_parent_indices()), hashes, worded, flat

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        rows = np.arange(batch.num_rows)
        if self.params.skip_sources:
            sources = batch.column("source").fill_null("").to_pylist()
            rows = np.flatnonzero([not any(fnmatch.fnmatchcase(s, p) for p in self.params.skip_sources) for s in sources])
        row, hashes, worded, _ = self._lines(batch.column("text").take(pa.array(rows)))
        row, hashes = rows[row[worded]], hashes[worded]
        order = np.lexsort((hashes, row))
        row, hashes = row[order], hashes[order]
        distinct = np.ones(len(row), dtype=bool)
        distinct[1:] = (row[1:] != row[:-1]) | (hashes[1:] != hashes[:-1])
        row, hashes = row[distinct], hashes[distinct]
        return pa.table({"row": row, "partition_key": (hashes >> np.uint64(32)).astype(np.uint32), "hash": hashes,
                         "lines": np.bincount(row, minlength=batch.num_rows)[row]})

    def reduce(self, keys: pa.Table, documents: Documents) -> pa.Table:
        """The keys of lines found in more than max_docs documents."""
        hashes = as_numpy(keys.column("hash"))
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else ordered
        sizes = np.diff(np.append(starts, len(ordered)))
        frequent = np.repeat(sizes > self.params.max_docs, sizes)
        return keys.take(pa.array(np.sort(order[frequent]))).select(["task", "row", "hash", "lines"])

    def decide(self, findings: pa.Table) -> pa.Table:
        """Per document: the line hashes to remove; dropped when that is every line it has."""
        doc = (as_numpy(findings.column("task")).astype(np.int64) << ID_BITS) | as_numpy(findings.column("row"))
        hashes, lines = as_numpy(findings.column("hash")), as_numpy(findings.column("lines"))
        order = np.lexsort((hashes, doc))
        doc, hashes, lines = doc[order], hashes[order], lines[order]
        head = np.flatnonzero(np.diff(doc, prepend=-1) != 0)
        found = np.diff(np.concatenate([head, [len(doc)]]))
        every = found == lines[head]
        offsets = np.concatenate([head, [len(doc)]]).astype(np.int32)
        return pa.table({"task": (doc[head] >> ID_BITS).astype(np.int32), "row": doc[head] & ((1 << ID_BITS) - 1),
                         "reason": pa.array(np.where(every, "repeated_lines_only", None).tolist(), pa.string()),
                         "remove": pa.ListArray.from_arrays(offsets, pa.array(hashes, pa.uint64()))})

    def apply(self, batch: pa.RecordBatch, at: np.ndarray, decisions: pa.Table) -> pa.RecordBatch:
        """The kept rows the decisions name, without their repeated lines."""
        kept = as_numpy(decisions.column("reason").is_null())
        if not kept.any():
            return batch
        at, remove = at[kept], decisions.column("remove").filter(pa.array(kept)).combine_chunks()
        text = batch.column("text")
        row, hashes, worded, flat = self._lines(text.take(pa.array(at)))
        removed = as_numpy(remove.value_parent_indices())
        gone = worded & np.isin(pair_keys(row, hashes), pair_keys(removed, as_numpy(remove.flatten())))
        left = np.bincount(row[~gone], minlength=len(at))
        lists = pa.LargeListArray.from_arrays(np.concatenate([[0], np.cumsum(left)]), flat.filter(pa.array(~gone)))
        rewritten = pc.binary_join(lists, pa.scalar(self.params.separator, pa.large_string()))
        for name, per_row in (("lines_removed", np.bincount(row[gone], minlength=len(at))),
                              ("bytes_removed", as_numpy(pc.binary_length(text.take(pa.array(at))))
                               - as_numpy(pc.binary_length(rewritten)))):
            counts = np.zeros(batch.num_rows, np.int64)
            counts[at] = per_row
            self.count(name, counts)
        mask = np.zeros(batch.num_rows, dtype=bool)
        mask[at] = True
        column = pc.replace_with_mask(text, pa.array(mask), rewritten.cast(text.type))
        return batch.set_column(batch.schema.get_field_index("text"), "text", column)
