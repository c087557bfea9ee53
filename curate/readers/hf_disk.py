"""The `hf_disk` reader: a dataset saved with `datasets.Dataset.save_to_disk` (its Arrow files, in the
order its state.json lists them), without loading `datasets`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from curate.engine.reader import ReadStats, bounded, list_files, register
from provenance.yamlfile import ConfigError

from .parquet import ParquetReader


@register("hf_disk")
class SavedDatasetReader(ParquetReader):
    kind = "Arrow"

    def listed(self) -> list[str]:
        files = []
        for pattern in self.params.paths:
            files += saved_dataset_files(pattern) if os.path.isdir(pattern) else list_files([pattern])
        return files

    def schema_of(self, path: str) -> pa.Schema:
        with pa.memory_map(path) as source:
            return _open(source).schema

    def read(self, path: str, stats: ReadStats) -> Iterator[pa.RecordBatch]:
        row, size = 0, self.params.batch_size
        with pa.memory_map(path) as source:
            reader = _open(source)
            batches = (iter(reader) if isinstance(reader, pa.ipc.RecordBatchStreamReader)
                       else (reader.get_batch(i) for i in range(reader.num_record_batches)))
            for batch in batches:
                # sliced by rows first, so that the text cast in to_core copies one batch at a time
                for start in range(0, batch.num_rows, size):
                    part = batch.slice(start, size)
                    yield from bounded(self.to_core(part, path, row, stats), "text", self.params)
                    row += part.num_rows


def _open(source):
    """An Arrow stream (what save_to_disk writes) or, failing that, an Arrow file."""
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        return pa.ipc.open_file(source)


def saved_dataset_files(folder: str) -> list[str]:
    state = Path(folder, "state.json")
    if not state.exists():
        raise ConfigError([f"input.paths: {folder!r} is not a dataset saved with save_to_disk (no state.json)"])
    names = [f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    return [str(Path(folder, n)) for n in names]
