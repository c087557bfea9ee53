"""Per-step counters: documents and bytes in and out, removals by reason, seconds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def text_bytes(batch: pa.RecordBatch) -> int:
    return pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0


@dataclass
class StepStats:
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)

    def count_removed(self, reasons: np.ndarray) -> None:
        values, counts = np.unique(np.asarray([r or "unspecified" for r in reasons], dtype=object).astype(str),
                                   return_counts=True)
        self.removed.update(dict(zip(values.tolist(), counts.tolist())))

    def merge(self, other: dict) -> None:
        for key in ("docs_in", "docs_out", "bytes_in", "bytes_out", "seconds"):
            setattr(self, key, getattr(self, key) + other[key])
        self.removed.update(other["removed"])

    def as_dict(self) -> dict:
        return {"docs_in": self.docs_in, "docs_out": self.docs_out, "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out, "seconds": round(self.seconds, 4),
                "removed": dict(sorted(self.removed.items()))}
