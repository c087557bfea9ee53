"""Writing documents as gzipped JSONL shards, the input the `jsonl` reader takes: used by the tests that
run a pipeline on a corpus of a given size, and by benchmarks/engine_gopher.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def write_shards(folder: Path, docs: list[dict], shards: int, copies: int = 1) -> list[Path]:
    """`copies` repeats the corpus (with distinct ids) to scale the input without changing its make-up."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"shard-{i:03d}.jsonl.gz" for i in range(shards)]
    handles = [gzip.open(p, "wt", encoding="utf-8") for p in paths]
    n = 0
    for c in range(copies):
        for d in docs:
            handles[n % shards].write(json.dumps({**d, "id": f"{d['id']}~{c}"}) + "\n")
            n += 1
    for h in handles:
        h.close()
    return paths
