"""decontam.ngram: find benchmark items in documents by shared n-grams.

Text on both sides is normalized the same way (Unicode NFKC, lowercase; punctuation, symbols,
whitespace and controls separate words: words.py). An n-gram is 13 words by default, or, with `unit:
chars`, 50 characters of the normalized text (`n` sets either); index.py says how the benchmarks'
n-grams are indexed, which items are matched whole and which windows are not indexed.

A document is contaminated when it shares at least one n-gram with an item. It gets `contamination`
(the ids `benchmark/item` it overlaps) and `contamination_score` (the largest fraction of one item's
distinct n-grams found in it). `action: drop` removes it with reason `contaminated:<benchmark>` of its
first matched item; `action: cut` removes the words the matched windows touch (`margin` words either
side, widened to whole whitespace-separated tokens) and keeps the rest, dropping a document left
without a word of two letters.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.decontam import report
from curate.decontam.benchmarks import Benchmark, item_texts, read_items, resolve
from curate.decontam.index import Index
from curate.decontam.words import split
from curate.engine.step import Filter, FilterResult, Params, register

log = logging.getLogger(__name__)
# Peak memory while building the index, per benchmark word or character (measured on 20,000 items of shuffled
# HumanEval words, 0.9M words or 5.2M characters: 149 and 105 bytes; 10 and 8 once built)
INDEX_BYTES = {"words": 160, "chars": 112}
DEFAULT_N = {"words": 13, "chars": 50}


class NgramParams(Params):
    benchmarks: list[Benchmark] = Field(min_length=1)  # names from the registry, or definitions (benchmarks.py)
    registry: str | None = None  # a YAML file of more named definitions (the shape of benchmarks.yaml)
    unit: Literal["words", "chars"] = "words"  # what an n-gram is made of
    n: int = Field(13, ge=1)  # words (or characters) per n-gram: 13 words or 50 characters unless set
    min_tokens: int = Field(3, ge=1)  # items shorter than this many words are skipped, not matched whole
    action: Literal["annotate", "drop", "cut"] = "annotate"  # what to do with a contaminated document
    margin: int = Field(0, ge=0)  # for cut: words removed either side of a matched window
    max_index_mb: int = Field(4096, ge=1)  # refuse benchmarks whose index would need more memory than this

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data):
        if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
            data = {**data, "benchmarks": resolve(data["benchmarks"], data.get("registry"))}
        if isinstance(data, dict) and "n" not in data:
            data = {**data, "n": DEFAULT_N.get(data.get("unit", "words"), 13)}
        return data


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
        size = sum(len(t.split()) if p.unit == "words" else len(t)
                   for bench in p.benchmarks for t in item_texts(bench, read_items(bench))[1])
        need_mb = size * INDEX_BYTES[p.unit] / 2**20
        if need_mb > p.max_index_mb:
            raise ValueError(f"the benchmarks hold {size:,} {p.unit}: indexing them needs about {need_mb:,.0f} MB "
                             f"per worker, over max_index_mb ({p.max_index_mb}); raise it if the memory is there")

    def setup(self) -> None:
        self.index = Index.load(self.params)

    def report(self, records: pa.Table, folder: Path) -> list[str]:
        index = Index.load(self.params)
        bench = np.array([i.partition("/")[0] for i in index.ids.tolist()])
        checked = {b.name: (int((bench == b.name).sum()), int(((bench == b.name) & (index.sizes > 0)).sum()))
                   for b in self.params.benchmarks}
        return report.write(report.summary(records, checked, self.params.n, self.params.unit, self.params.action), folder)

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        if not hasattr(self, "index"):
            self.setup()
        items, score, matches, (rows, starts, sizes) = self.index.scan(batch.column("text"))
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
