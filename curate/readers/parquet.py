"""The `parquet` reader: Parquet files, read in row batches, row group by row group. Rows with a null text
or one over `input.max_doc_mb` are counted and dropped; a row group that cannot be read (a corrupt page)
is counted as `corrupt_row_group` with its file and number, and the other row groups are read."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.engine.reader import Reader, ReadStats, TableParams, bounded, missing_fields, origin, register
from curate.engine.schema import doc_id
from provenance.yamlfile import ConfigError


@register("parquet")
class ParquetReader(Reader):
    Params = TableParams

    kind = "Parquet"

    def files(self) -> list[str]:
        """The files, each with a readable schema holding the fields the input names."""
        files, errors, seen = self.listed(), [], {}
        for f in files:
            try:
                seen[f] = set(self.schema_of(f).names)
            except (pa.ArrowInvalid, OSError) as err:
                errors.append(f"input: {f} is not a readable {self.kind} file: {err}")
        errors += missing_fields(self.params, seen, "its schema")
        if errors:
            raise ConfigError(errors)
        return files

    def listed(self) -> list[str]:
        return super().files()

    def schema_of(self, path: str) -> pa.Schema:
        return pq.read_schema(path)

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(path)
        columns, start = self.wanted(pf.schema_arrow.names), 0
        for group in range(pf.num_row_groups):
            row = start
            batches = pf.iter_batches(batch_size=self.params.batch_size, row_groups=[group], columns=columns)
            for batch in readable(batches, stats, f"{path} row group {group}"):
                yield from bounded(self.to_core(batch, path, row, stats), "text", self.params)
                row += batch.num_rows
            start += pf.metadata.row_group(group).num_rows

    def wanted(self, names: list[str]) -> list[str]:
        """The input columns this reader uses."""
        p = self.params
        return [n for n in names if n in {p.text_field, p.id_field, p.url_field, p.source_field, p.license_field,
                                          *p.keep_columns}]

    def to_core(self, batch: pa.RecordBatch, path: str, row0: int, stats: ReadStats) -> pa.RecordBatch:
        """A columnar input batch -> the document table (rows with a null or too large text dropped, counted)."""
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
        sizes = pc.binary_length(text)
        for kind, bad, detail in (("missing_text", pc.is_null(text), "null text"),
                                  ("doc_too_large", pc.greater(sizes, cfg.max_doc_bytes).fill_null(False),
                                   f"a text over {cfg.max_doc_mb:g} MiB")):
            dropped = rows[np.asarray(bad)]
            for r in dropped[:10]:
                stats.problem(kind, f"{path}:{r}", detail)
            if len(dropped) > 10:
                stats.skipped[kind] += len(dropped) - 10
        keep = pc.less_equal(sizes, cfg.max_doc_bytes).fill_null(False)
        return out if pc.all(keep).as_py() else out.filter(keep)


def readable(batches: Iterator[pa.RecordBatch], stats: ReadStats, where: str) -> Iterator[pa.RecordBatch]:
    """`batches` up to one that cannot be read, which is counted as a `corrupt_row_group` at `where`."""
    try:
        yield from batches
    except (OSError, pa.ArrowException) as err:
        stats.problem("corrupt_row_group", where, str(err))
