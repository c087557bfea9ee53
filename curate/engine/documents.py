"""The documents a stage's tasks gave to its global step, read back by (task, row) during reduce:
a step that checks its candidates on the text itself (dedup.minhash's exact Jaccard) asks for the
few rows it needs; only the row groups that hold them are read from the stage's shards."""

from __future__ import annotations

import json
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .layout import Layout


class Documents(Protocol):
    def take(self, task: int, rows: np.ndarray, column: str) -> pa.Array:
        """`column` of rows `rows` (in that order) of what task `task` gave the global step."""


class StageDocuments:
    def __init__(self, layout: Layout, stage: int):
        self.layout, self.stage = layout, stage

    def take(self, task: int, rows: np.ndarray, column: str) -> pa.Array:
        folder = self.layout.data(self.stage, last=False)
        marker = json.loads(self.layout.marker(self.stage, task).read_text())
        files = [pq.ParquetFile(folder / name) for name in marker["shards"]]
        groups = [(f, g) for f in files for g in range(f.num_row_groups)]
        starts = np.cumsum([0] + [f.metadata.row_group(g).num_rows for f, g in groups])
        rows = np.asarray(rows, np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= starts[-1]):
            raise IndexError(f"task {task} gave {starts[-1]} rows to stage {self.stage}'s global step, "
                             f"not {rows.max() + 1}")
        group = np.searchsorted(starts, rows, side="right") - 1
        needed = np.unique(group)
        read = pa.concat_arrays([groups[g][0].read_row_group(groups[g][1], columns=[column]).column(0).combine_chunks()
                                 for g in needed]) if len(needed) else pa.array([], pa.large_string())
        sizes = starts[needed + 1] - starts[needed]
        offset = np.cumsum(np.concatenate([[0], sizes]))[np.searchsorted(needed, group)]
        return read.take(pa.array(offset + rows - starts[group]))
