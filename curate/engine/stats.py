"""Per-step counters, in total and per source: documents and bytes in and out, removals by reason,
the step's own named counts, seconds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIELDS = ("docs_in", "docs_out", "bytes_in", "bytes_out")


class Sources:
    """A batch's rows grouped by their `source`: counts and sums per source name."""

    def __init__(self, batch: pa.RecordBatch):
        encoded = pc.dictionary_encode(batch.column("source").fill_null(""))
        self.names: list[str] = encoded.dictionary.to_pylist()
        self.codes = encoded.indices.to_numpy(zero_copy_only=False)
        self.text_bytes = pc.binary_length(batch.column("text")).fill_null(0).to_numpy(zero_copy_only=False)

    def sums(self, values: np.ndarray | None = None, rows: np.ndarray | None = None) -> dict[str, int]:
        """Per source: the number of rows (values None) or the sum of `values`, over `rows` (a mask) or all."""
        codes = self.codes if rows is None else self.codes[rows]
        if values is not None and rows is not None:
            values = values[rows]
        totals = np.bincount(codes, weights=values, minlength=len(self.names))
        return {n: int(t) for n, t in zip(self.names, totals) if t}


@dataclass
class Counts:
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    removed: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def add(self, other: dict) -> None:
        for key in FIELDS:
            setattr(self, key, getattr(self, key) + other.get(key, 0))
        self.removed.update(other.get("removed", {}))
        self.counters.update(other.get("counters", {}))

    def as_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in FIELDS}, "removed": dict(sorted(self.removed.items())),
                "counters": dict(sorted(self.counters.items()))}


@dataclass
class StepStats(Counts):
    seconds: float = 0.0
    sources: dict[str, Counts] = field(default_factory=dict)

    def source(self, name: str) -> Counts:
        if name not in self.sources:
            self.sources[name] = Counts()
        return self.sources[name]

    def entered(self, rows: Sources) -> None:
        self._tally(rows, "docs_in", "bytes_in")

    def left(self, rows: Sources) -> None:
        self._tally(rows, "docs_out", "bytes_out")

    def _tally(self, rows: Sources, docs: str, size: str) -> None:
        for name, n in rows.sums().items():
            counts = self.source(name)
            setattr(counts, docs, getattr(counts, docs) + n)
            setattr(self, docs, getattr(self, docs) + n)
        for name, n in rows.sums(rows.text_bytes).items():
            counts = self.source(name)
            setattr(counts, size, getattr(counts, size) + n)
            setattr(self, size, getattr(self, size) + n)

    def count_removed(self, rows: Sources, dropped: np.ndarray, reasons: np.ndarray,
                      counted: Callable[[str], str] = lambda reason: reason) -> None:
        names = np.asarray(rows.names, dtype=object)[rows.codes[dropped]]
        kinds = (counted(r) if r else "unspecified" for r in reasons[dropped])
        for (name, reason), n in Counter(zip(names, kinds)).items():
            self.removed[reason] += n
            self.source(name).removed[reason] += n

    def count(self, rows: Sources, counts: dict[str, np.ndarray]) -> None:
        for key, per_row in counts.items():
            for name, n in rows.sums(per_row.astype(np.float64)).items():
                self.counters[key] += n
                self.source(name).counters[key] += n

    def merge(self, other: dict) -> None:
        self.add(other)
        self.seconds += other.get("seconds", 0.0)
        for name, counts in other.get("sources", {}).items():
            self.source(name).add(counts)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "seconds": round(self.seconds, 4),
                "sources": {n: c.as_dict() for n, c in sorted(self.sources.items())}}
