"""The document table: core columns every reader produces, and stable document ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

ORIGIN = pa.struct(
    [
        ("file", pa.string()),  # input file as named by the run
        ("row", pa.int64()),  # line (JSONL, 1-based) or row (Parquet, Arrow, 0-based) in that file
        ("offset", pa.int64()),  # byte offset of the record, where the format has one
        ("record_id", pa.string()),  # e.g. WARC-Record-ID
        ("date", pa.string()),  # fetch or crawl date, where known
    ]
)

CORE = {
    "id": pa.string(),
    "text": pa.large_string(),
    "source": pa.string(),
    "url": pa.string(),
    "origin": ORIGIN,
}

CORE_SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in CORE.items()])


def doc_id(file: str, locator: int | str) -> str:
    """Stable id for a document that came without one: a hash of where it was read from."""
    return xxhash.xxh3_128_hexdigest(f"{file}\x00{locator}")


def as_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column as one numpy array (ChunkedArray.to_numpy would import pandas: ~0.2 s in a fresh worker)."""
    if isinstance(column, pa.ChunkedArray):
        column = pa.concat_arrays(column.chunks) if column.num_chunks != 1 else column.chunk(0)
    return column.to_numpy(zero_copy_only=False)
