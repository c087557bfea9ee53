"""Writers: batches -> output shards of bounded size, each written under a temporary
name and renamed when complete, so a reader never sees half a shard (and an error leaves none)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from provenance.files import unique, write_atomic

ROW_GROUP_BYTES = 32 << 20


class ShardWriter:
    """Writes `{prefix}-{k:04d}.{ext}` shards in `folder`, rolling over past `max_bytes` (uncompressed)."""

    def __init__(self, folder: str | Path, prefix: str, fmt: str = "parquet", max_bytes: int = 256 << 20):
        self.folder, self.prefix, self.fmt, self.max_bytes = Path(folder), prefix, fmt, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shards: list[str] = []
        self.schema: pa.Schema | None = None
        self._file = None
        self._tmp: Path | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_bytes = 0
        self._shard_bytes = 0

    @property
    def ext(self) -> str:
        return "parquet" if self.fmt == "parquet" else "jsonl.gz"

    def write(self, batch: pa.RecordBatch) -> None:
        if self.schema is None and batch.num_rows:
            self.schema = batch.schema
        if batch.num_rows and batch.schema != self.schema:
            batch = batch.cast(self.schema)
        row_bytes = batch.nbytes / max(batch.num_rows, 1)
        while batch.num_rows:
            if self._file is None:
                self._open()
            room = self.max_bytes - self._shard_bytes
            n = batch.num_rows if batch.nbytes <= room else max(1, int(room / row_bytes))
            part, batch = batch.slice(0, n), batch.slice(n)
            self._pending.append(part)
            self._pending_bytes += n * row_bytes
            self._shard_bytes += n * row_bytes
            if self._pending_bytes >= ROW_GROUP_BYTES:
                self._flush()
            if self._shard_bytes >= self.max_bytes:
                self._finish_shard()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        """On an error (a full disk, a failing step), the shard being written is removed."""
        if kind is not None and self._file is not None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
            self._file = None

    def close(self) -> list[str]:
        if self._file is not None:
            self._finish_shard()
        return self.shards

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):04d}.{self.ext}"
        self._final = self.folder / name
        self._tmp = self.folder / f".tmp-{name}.{unique()}"  # unique: a retried task never shares it
        if self.fmt == "parquet":
            self._file = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        else:
            self._file = gzip.GzipFile(self._tmp, "wb", mtime=0)
        self._shard_bytes = 0

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        if self.fmt == "parquet":
            self._file.write_table(table, row_group_size=table.num_rows)
        else:
            self._file.write(b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist()))
        self._pending, self._pending_bytes = [], 0

    def _finish_shard(self) -> None:
        self._flush()
        self._file.close()
        os.replace(self._tmp, self._final)
        self.shards.append(self._final.name)
        self._file = None


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """A small JSONL file written atomically (rejected samples, logs of decisions)."""
    write_atomic(path, b"".join(orjson.dumps(r) + b"\n" for r in rows))
