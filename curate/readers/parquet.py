"""The `parquet` reader: Parquet files, read in row batches; rows with a null text are counted and dropped."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.engine.reader import Reader, ReadStats, TableParams, bounded, origin, register
from curate.engine.schema import doc_id
from provenance.yamlfile import ConfigError


@register("parquet")
class ParquetReader(Reader):
    Params = TableParams

    def files(self) -> list[str]:
        files = super().files()
        errors = []
        for f in files:
            try:
                names = pq.read_schema(f).names
            except (pa.ArrowInvalid, OSError) as err:
                errors.append(f"input: {f} is not a readable Parquet file: {err}")
                continue
            if self.params.text_field not in names:
                errors.append(f"input: {f} has no {self.params.text_field!r} column (columns: {', '.join(names)}); "
                              "set input.text_field")
        if errors:
            raise ConfigError(errors)
        return files

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(path)
        row = 0
        for batch in pf.iter_batches(batch_size=self.params.batch_size, columns=self.wanted(pf.schema_arrow.names)):
            yield from bounded(self.to_core(batch, path, row, stats), "text", self.params)
            row += batch.num_rows

    def wanted(self, names: list[str]) -> list[str]:
        """The input columns this reader uses."""
        p = self.params
        return [n for n in names if n in {p.text_field, p.id_field, p.url_field, p.source_field, p.license_field,
                                          *p.keep_columns}]

    def to_core(self, batch: pa.RecordBatch, path: str, row0: int, stats: ReadStats) -> pa.RecordBatch:
        """A columnar input batch -> the document table (rows with a null text counted and dropped)."""
        cfg, n, names = self.params, batch.num_rows, batch.schema.names
        rows = np.arange(row0, row0 + n, dtype=np.int64)
        text = batch.column(cfg.text_field)
        if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
            raise ConfigError([f"input: {path}: column {cfg.text_field!r} is {text.type}, not a string"])

        def column(name: str | None, default: pa.Array | None = None) -> pa.Array:
            default = default if default is not None else pa.nulls(n, pa.string())
            return pc.coalesce(pc.cast(batch.column(name), pa.string()), default) if name in names else default

        ids = column(cfg.id_field)
        if ids.null_count:  # rows without a user id get one derived from where they were read
            ids = pc.coalesce(ids, pa.array([doc_id(path, int(r)) for r in rows], pa.string()))
        columns = {"id": ids, "text": pc.cast(text, pa.large_string()),
                   "source": column(cfg.source_field, pa.repeat(pa.scalar(self.source, pa.string()), n)),
                   "url": column(cfg.url_field), "origin": origin(pa.repeat(pa.scalar(path), n), rows)}
        if self.licensed:
            columns["license"] = column(cfg.license_field, pa.repeat(pa.scalar(cfg.license, pa.string()), n))
        for c in cfg.keep_columns:
            columns[c] = batch.column(c) if c in names else pa.nulls(n, pa.string())
        out = pa.RecordBatch.from_pydict(columns)
        if text.null_count:
            for r in rows[np.asarray(pc.is_null(text))][:10]:
                stats.problem("missing_text", f"{path}:{r}", "null text")
            stats.skipped["missing_text"] += max(0, text.null_count - 10)
            out = out.filter(pc.is_valid(text))
        return out
