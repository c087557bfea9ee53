"""One task: one input shard streamed through one stage's steps, then written.

Runs in a worker process. The engine's bookkeeping lives here and only here:
stats per step, removal reasons, sampled rejects, keys for a global step, and
the completion marker that makes a rerun skip the task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .layout import Layout
from .plan import Plan, PlannedStep
from .readers import ReadStats, bounded, read
from .stats import StepStats, text_bytes
from .step import Filter, FilterResult, GlobalStep, Step
from .writers import ShardWriter, write_jsonl

log = logging.getLogger("gristmill")

_BUILT: dict[int, list[tuple[PlannedStep, Step]]] = {}


def _built(plan: Plan, stage: int) -> list[tuple[PlannedStep, Step]]:
    """The stage's step instances, set up once per worker process."""
    if stage not in _BUILT:
        steps = plan.stages[stage].steps + ([plan.stages[stage].barrier] if plan.stages[stage].barrier else [])
        built = [(p, p.build()) for p in steps]
        for _, step in built:
            step.setup()
        _BUILT[stage] = built
    return _BUILT[stage]


def run_task(plan: Plan, layout: Layout, stage: int, task: int) -> dict:
    started = time.perf_counter()
    last = stage == len(plan.stages) - 1
    out_dir = layout.data(stage, last)
    prefix = Layout.shard_prefix(task)
    _remove_leftovers(out_dir, prefix)

    read_stats = ReadStats()
    inputs: list[dict] = []
    if stage == 0:
        path = plan.files[task]
        inputs.append({"file": path, "bytes": os.path.getsize(path), "sha256": _sha256(path)})
        batches = read(path, plan.config.input, plan.config.input.source or plan.config.name, read_stats)
    else:
        batches = _previous_stage(plan, layout, stage, task)

    stats: dict[str, StepStats] = {}
    rejected: list[dict] = []
    keep_rejected = plan.config.output.keep_rejected
    steps = _built(plan, stage)
    if stage > 0:
        barrier = plan.stages[stage - 1].barrier
        steps = [(barrier, _Decision(layout.decision(stage, task)))] + steps
    barrier_keys: list[pa.Table] = []

    writer = ShardWriter(out_dir, prefix, plan.config.output.format if last else "parquet",
                         int(plan.config.output.max_shard_mb * (1 << 20)))
    for batch in batches:
        for planned, step in steps:
            st = stats.setdefault(planned.label, StepStats())
            t0 = time.perf_counter()
            if isinstance(step, GlobalStep):
                keys = step.keys(batch)
                barrier_keys.append(keys.append_column("__bytes", pc.binary_length(batch.column("text"))))
                st.seconds += time.perf_counter() - t0
                continue
            st.docs_in += batch.num_rows
            st.bytes_in += text_bytes(batch)
            if isinstance(step, Filter):
                result = step.keep(batch)
                if result.batch is not None:
                    batch = result.batch
                dropped = ~result.keep
                if dropped.any():
                    st.count_removed(result.reasons[dropped])
                    if keep_rejected:
                        rejected += _sample(planned.label, batch, result, dropped, keep_rejected, rejected)
                    batch = batch.filter(pa.array(result.keep))
            else:
                batch = step.process(batch)
            st.docs_out += batch.num_rows
            st.bytes_out += text_bytes(batch)
            st.seconds += time.perf_counter() - t0
            if batch.num_rows == 0:
                break
        writer.write(batch)
    shards = writer.close()

    if plan.stages[stage].barrier is not None:
        path = layout.keys(stage, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = pa.concat_tables(barrier_keys) if barrier_keys else None
        _write_table(path, keys)
    if keep_rejected:
        path = layout.rejected(stage, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, rejected)

    marker = {"stage": stage, "task": task, "inputs": inputs, "read": read_stats.as_dict(),
              "steps": {k: v.as_dict() for k, v in stats.items()}, "shards": shards,
              "seconds": round(time.perf_counter() - started, 4)}
    path = layout.marker(stage, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(marker, indent=1))
    os.replace(tmp, path)
    return marker


class _Decision(Filter):
    """Applies a global step's saved decision to the rows a task gives to the next stage."""

    def __init__(self, path: Path):
        saved = np.load(path, allow_pickle=True)
        self.mask, self.reasons, self.offset = saved["keep"], saved["reasons"], 0

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        end = self.offset + batch.num_rows
        result = FilterResult(self.mask[self.offset:end], self.reasons[self.offset:end])
        self.offset = end
        return result


def _previous_stage(plan: Plan, layout: Layout, stage: int, task: int) -> Iterator[pa.RecordBatch]:
    folder = layout.data(stage - 1, last=False)
    marker = json.loads(layout.marker(stage - 1, task).read_text())
    for name in marker["shards"]:
        for batch in pq.ParquetFile(folder / name).iter_batches(batch_size=plan.config.input.batch_size):
            yield from bounded(batch, "text", plan.config.input)


def _sample(label: str, batch: pa.RecordBatch, result: FilterResult, dropped: np.ndarray, k: int,
            so_far: list[dict]) -> list[dict]:
    room = k - sum(1 for r in so_far if r["step"] == label)
    if room <= 0:
        return []
    rows = np.flatnonzero(dropped)[:room]
    taken = batch.take(pa.array(rows)).select(["id", "source", "text"]).to_pylist()
    return [{"step": label, "reason": result.reasons[r] or "unspecified", **row} for r, row in zip(rows, taken)]


def _remove_leftovers(folder: Path, prefix: str) -> None:
    """A task killed mid-way may have left shards; the rerun writes them again from scratch."""
    if folder.exists():
        for p in list(folder.glob(f"{prefix}-*")) + list(folder.glob(f".tmp-{prefix}-*")):
            p.unlink()


def _write_table(path: Path, table: pa.Table | None) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    if table is None:
        table = pa.table({"__bytes": pa.array([], pa.int32())})
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
