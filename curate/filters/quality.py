"""filter.quality: score documents with a fastText quality model trained by `gristmill quality train`,
adding `quality_score` (0-1) and `quality_probs` (each label's probability), and keep by threshold.
filter.quality.top: keep the top `percent` of the whole corpus by `quality_score`, or of each source
(`per_source: true`): a whole-corpus decision, so a global step; it follows filter.quality.

The model is a local path or the name of a trained model in ~/.cache/gristmill/quality (`reference`:
the one pipelines/quality_train.yaml builds); it is checked (exists, is fastText, has a card whose
normalization this gristmill applies) when the pipeline is validated, before data is read. Scoring
normalizes a batch with Arrow compute and hands it to fastText in one `predict` call. A document with
no words gets no score: counted as `empty_text`, dropped where a threshold is set, ranked last by top.

Top-k ranks by score, ties by a hash of the id, so the kept set depends only on the documents, not on
how many workers or tasks ran. Each source's keys meet in one reduce (overall: all keys in one).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from curate.engine.documents import Documents
from curate.engine.schema import as_numpy
from curate.engine.step import Filter, FilterResult, GlobalStep, Params, register
from curate.quality import normalize as norm
from curate.quality.model import ModelError, QualityModel, read_card

PROBS = pa.map_(pa.string(), pa.float32())


class QualityParams(Params):
    model: str  # local path to a fastText model with its card.json beside it, or a trained model's name
    threshold: float | None = Field(None, ge=0, le=1)  # drop documents scoring below; None: only score
    normalization: str | None = None  # assert the model's normalization (its card's), e.g. lower-ws-v1


@register("filter.quality")
class QualityFilter(Filter):
    """Add quality_score (and per-label probabilities); drop documents below `threshold`."""

    Params = QualityParams
    adds = {"quality_score": pa.float32(), "quality_probs": PROBS}

    @classmethod
    def check(cls, p: QualityParams) -> None:
        try:
            _, card = read_card(p.model)
        except ModelError as err:
            raise ValueError(str(err)) from None
        used = card["normalization"]["name"]
        if p.normalization is not None and p.normalization != used:
            raise ValueError(f"model {p.model!r} was trained with normalization {used!r}, not {p.normalization!r}"
                             f" (this gristmill applies {', '.join(norm.KNOWN)})")

    def setup(self) -> None:
        self.model = QualityModel(self.params.model)

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        scores, probs, scored = self.model.score(batch.column("text"))
        self.count("empty_text", ~scored)
        keep = np.ones(batch.num_rows, dtype=bool)
        reasons = np.full(batch.num_rows, None, dtype=object)
        if self.params.threshold is not None:
            low = scored & (scores < self.params.threshold)
            reasons[low], reasons[~scored] = "low_quality", "empty_text"
            keep = scored & ~low
        out = batch.append_column("quality_score", pa.array(scores.astype(np.float32), mask=~scored))
        return FilterResult(keep, reasons, out.append_column("quality_probs", _probs(self.model.labels, probs, scored)))


def _probs(labels: list[str], probs: np.ndarray, scored: np.ndarray) -> pa.MapArray:
    """One map {label: probability} per row (null where nothing was scored), built without Python rows."""
    n, k = probs.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
    keys = pa.array(np.tile(np.array(labels, dtype=object), n), pa.string())
    return pa.MapArray.from_arrays(offsets, keys, pa.array(probs.astype(np.float32).ravel()),
                                   mask=pa.array(~scored))


class TopParams(Params):
    percent: float = Field(gt=0, le=100)  # share of documents kept (rounded up: a source keeps at least one)
    per_source: bool = False  # rank within each source instead of over the whole corpus


@register("filter.quality.top")
class QualityTop(GlobalStep):
    """Keep the `percent` highest-scoring documents overall or per source; the rest drop as
    `below_top_percent`."""

    Params = TopParams
    needs = {"quality_score": pa.float32(), "source": pa.string(), "id": pa.string()}

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        score = pc.fill_null(batch.column("quality_score"), -1.0)  # unscored: ranked last
        ids = batch.column("id").to_pylist()
        tie = np.fromiter((xxhash.xxh3_64_intdigest(i or "") for i in ids), dtype=np.uint64, count=len(ids))
        if self.params.per_source:
            sources = batch.column("source").to_pylist()
            group = np.fromiter((xxhash.xxh3_64_intdigest(s or "") for s in sources), dtype=np.uint64, count=len(ids))
        else:
            group = np.zeros(len(ids), dtype=np.uint64)
        return pa.table({"row": np.arange(batch.num_rows, dtype=np.int64), "score": score, "tie": tie,
                         "group": group, "partition_key": (group >> np.uint64(32)).astype(np.uint32)})

    def reduce(self, keys: pa.Table, documents: Documents) -> pa.Table:
        """Per group (a source, or everything): order by score (high first), then id hash, then place;
        rows past the first ceil(percent% of the group) drop."""
        score, tie, group, task, row = (as_numpy(keys.column(c)) for c in ("score", "tie", "group", "task", "row"))
        order = np.lexsort((row, task, tie, -score.astype(np.float64), group))
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
        sizes = np.diff(np.r_[starts, len(g)])
        rank = np.arange(len(g)) - np.repeat(starts, sizes)
        allowed = np.repeat([math.ceil(self.params.percent / 100 * s - 1e-9) for s in sizes], sizes)
        drop = order[rank >= allowed] if len(g) else order
        return pa.table({"task": pa.array(task[drop], pa.int32()), "row": pa.array(row[drop], pa.int64()),
                         "reason": pa.repeat(pa.scalar("below_top_percent"), len(drop))})
