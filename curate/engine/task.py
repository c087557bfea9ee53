"""Tasks: one input shard streamed through one stage's steps, and one range of a global step's keys
reduced. Both run wherever the executor runs them; the engine's bookkeeping lives here and only here:
stats per step and per source, removal reasons, sampled rejects, a global step's keys and findings.
The executor writes each task's completion marker from what it returns.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.files import atomic_path, file_sha256

from .documents import StageDocuments
from .errors import RunFailed
from .layout import Layout
from .plan import Plan, PlannedStep
from .reader import ReadStats, bounded
from .schema import ORIGIN, as_numpy
from .stats import Sources, StepStats
from .step import ERROR, Filter, FilterResult, GlobalStep, Step
from .writers import ShardWriter, write_jsonl

log = logging.getLogger("gristmill")

_BUILT: dict[tuple[str, int, bool], list[tuple[PlannedStep, Step]]] = {}


def built_steps(plan: Plan, stage: int, global_only: bool = False) -> list[tuple[PlannedStep, Step]]:
    """The stage's step instances (or its global step alone), set up once per worker process and
    plan: a reused worker may serve several runs."""
    key = (plan.hash, stage, global_only)
    if key not in _BUILT:
        planned = [plan.stages[stage].global_step] if global_only else plan.stages[stage].all_steps
        built = [(p, p.build()) for p in planned]
        for _, step in built:
            step.setup()
        _BUILT[key] = built
    return _BUILT[key]


@dataclass
class StageTask:
    plan: Plan
    layout: Layout
    stage: int
    task: int

    @property
    def marker(self) -> Path:
        return self.layout.marker(self.stage, self.task)

    def __call__(self) -> dict:
        return run_task(self.plan, self.layout, self.stage, self.task)


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
        inputs.append({"file": path, "bytes": os.path.getsize(path), "sha256": file_sha256(path)})
        batches = plan.reader.batches(path, read_stats)
    else:
        batches = _previous_stage(plan, layout, stage, task)

    stats: dict[str, StepStats] = {}
    rejected: list[dict] = []
    keep_rejected = plan.config.output.keep_rejected
    steps = built_steps(plan, stage)
    if stage > 0:
        ended = plan.stages[stage - 1].global_step
        decided = built_steps(plan, stage - 1, global_only=True)[0][1]
        steps = [(ended, _Decision(layout.decision(stage, task), decided))] + steps
    keys: list[pa.Table] = []
    records: dict[str, list[pa.Table]] = {}
    dropped_rows: list[pa.Table] = []  # every removed document: id, step, reason, source, origin
    rows_seen = 0  # rows given to this stage's global step so far

    with ShardWriter(out_dir, prefix, plan.config.output.format if last else "parquet",
                     int(plan.config.output.max_shard_mb * (1 << 20))) as writer:
        for batch in batches:
            rows = None
            for planned, step in steps:
                st = stats.setdefault(planned.label, StepStats())
                t0 = time.perf_counter()
                if isinstance(step, GlobalStep):
                    found = step.keys(batch)
                    keys.append(found.set_column(found.schema.get_field_index("row"), "row",
                                                 pc.add(found.column("row").cast(pa.int64()), rows_seen)))
                    rows_seen += batch.num_rows
                    if counts := step.take_counts():
                        st.count(Sources(batch), counts)
                    records.setdefault(planned.label, []).extend(step.take_records())
                    st.seconds += time.perf_counter() - t0
                    continue
                if rows is None:
                    rows = Sources(batch)
                st.entered(rows)
                if isinstance(step, Filter):
                    result = step.keep(batch)
                    if result.batch is not None:
                        batch = result.batch
                    dropped = ~result.keep
                    if dropped.any():
                        st.count_removed(rows, dropped, result.reasons, step.counted_reason)
                        dropped_rows.append(_dropped(batch, dropped, result.reasons, planned.label))
                        _check_errors(plan, planned, step, st, result.reasons[dropped])
                        if keep_rejected:
                            rejected += _sample(planned.label, batch, result, dropped, keep_rejected, rejected)
                        batch = batch.filter(pa.array(result.keep))
                else:
                    batch = step.process(batch)
                st.count(rows, step.take_counts())
                records.setdefault(planned.label, []).extend(step.take_records())
                rows = Sources(batch)
                st.left(rows)
                st.seconds += time.perf_counter() - t0
                if batch.num_rows == 0:
                    break
            writer.write(batch)
        shards = writer.close()

    if plan.stages[stage].global_step is not None:
        _write_keys(layout.keys(stage, task), keys)
    layout.dropped(stage, task).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(layout.dropped(stage, task)) as tmp:
        pq.write_table(pa.concat_tables(dropped_rows) if dropped_rows else DROPPED.empty_table(), tmp,
                       compression="zstd")
    for label, tables in records.items():
        if tables:
            path = layout.records(stage, task, label)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                pq.write_table(pa.concat_tables(tables, promote_options="default"), tmp, compression="zstd")
    if keep_rejected:
        path = layout.rejected(stage, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, rejected)
    return {"stage": stage, "task": task, "inputs": inputs, "read": read_stats.as_dict(),
            "steps": {k: v.as_dict() for k, v in stats.items()}, "shards": shards,
            "seconds": round(time.perf_counter() - started, 4)}


class _Decision(Filter):
    """Applies a global step's saved decisions to the rows a task gives to the next stage: drops the
    rows it names with a reason, fills the columns the step adds for the rows it names, and lets a step
    that rewrites rows (`GlobalStep.apply`) do so; what the step counts there is counted for it."""

    def __init__(self, path: Path, step: GlobalStep):
        super().__init__(None)
        saved = pq.ParquetFile(path).read() if path.exists() else None
        self.rows = as_numpy(saved.column("row")) if saved is not None else np.empty(0, np.int64)
        self.reasons = as_numpy(saved.column("reason")) if saved is not None else None
        self.saved, self.adds, self.offset = saved, type(step).adds, 0
        self.step = step
        self.apply = step.apply if type(step).apply is not GlobalStep.apply else None
        self.counted_reason = step.counted_reason

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        start, end = self.offset, self.offset + batch.num_rows
        self.offset = end
        lo, hi = np.searchsorted(self.rows, [start, end])
        at = self.rows[lo:hi] - start
        keep = np.ones(batch.num_rows, dtype=bool)
        reasons = np.full(batch.num_rows, None, dtype=object)
        if hi > lo:
            named = self.reasons[lo:hi]
            keep[at] = np.asarray([r is None for r in named])
            reasons[at] = named
        added = None
        for col, dtype in self.adds.items():
            values = pa.nulls(batch.num_rows, dtype)
            if hi > lo:
                values = _scatter(batch.num_rows, at, self.saved.column(col).slice(lo, hi - lo), dtype)
            added = (added or batch).append_column(col, values)
        if self.apply is not None and hi > lo:
            added = self.apply(added or batch, at, self.saved.slice(lo, hi - lo))
            for name, per_row in self.step.take_counts().items():
                self.count(name, per_row)
        return FilterResult(keep, reasons, added)


DROPPED = pa.schema([("id", pa.string()), ("step", pa.string()), ("reason", pa.string()), ("source", pa.string()),
                     ("origin", ORIGIN)])


def _dropped(batch: pa.RecordBatch, dropped: np.ndarray, reasons: np.ndarray, label: str) -> pa.Table:
    """The ids, reasons and origins of the rows a step removed (not their text)."""
    at = pa.array(np.flatnonzero(dropped))
    return pa.table({"id": batch.column("id").take(at), "step": pa.repeat(pa.scalar(label), len(at)),
                     "reason": pa.array(reasons[dropped], pa.string()).fill_null("unspecified"),
                     "source": batch.column("source").take(at), "origin": batch.column("origin").take(at)},
                    schema=DROPPED)


def _scatter(n: int, at: np.ndarray, values: pa.ChunkedArray, dtype: pa.DataType) -> pa.Array:
    """An array of n nulls with `values` at positions `at`."""
    index = np.full(n, -1, dtype=np.int64)
    index[at] = np.arange(len(at))
    return values.combine_chunks().take(pa.array(index, mask=index < 0)).cast(dtype)


def _write_keys(path: Path, keys: list[pa.Table]) -> None:
    """A task's keys for a global step, sorted by partition key (one row group per partition range
    read later, found by the row groups' statistics)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables(keys) if keys else None
    with atomic_path(path) as tmp:
        if table is None:
            pq.write_table(pa.table({"row": pa.array([], pa.int64()), "partition_key": pa.array([], pa.uint32())}), tmp)
            return
        table = table.take(pc.sort_indices(table, [("partition_key", "ascending"), ("row", "ascending")]))
        pq.write_table(table, tmp, compression="zstd", row_group_size=KEYS_ROW_GROUP)


KEYS_ROW_GROUP = 1 << 16


@dataclass
class ReduceTask:
    """One range of partition keys of the global step that ends `stage`, from every task."""

    plan: Plan
    layout: Layout
    stage: int
    part: int
    parts: int

    @property
    def marker(self) -> Path:
        return self.layout.reduce_marker(self.stage, self.part)

    def __call__(self) -> dict:
        started = time.perf_counter()
        step = built_steps(self.plan, self.stage, global_only=True)[0][1]
        lo, hi = key_range(self.part, self.parts)
        tables = []
        for task in range(len(self.plan.files)):
            keys = _keys_in_range(self.layout.keys(self.stage, task), lo, hi)
            tables.append(keys.append_column("task", pa.repeat(pa.scalar(task, pa.int32()), keys.num_rows)))
        keys = pa.concat_tables(tables, promote_options="default")
        findings = step.reduce(keys, StageDocuments(self.layout, self.stage))
        path = self.layout.findings(self.stage, self.part)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            pq.write_table(findings, tmp, compression="zstd")
        return {"part": self.part, "keys": keys.num_rows, "findings": findings.num_rows,
                "seconds": round(time.perf_counter() - started, 4)}


def _keys_in_range(path: Path, lo: int, hi: int) -> pa.Table:
    """A task's keys with partition keys in [lo, hi): only the row groups whose statistics overlap
    the range are read (the file is sorted by partition key)."""
    pf = pq.ParquetFile(path)
    column = pf.schema_arrow.get_field_index("partition_key")
    groups = []
    for g in range(pf.num_row_groups):
        stats = pf.metadata.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max or (stats.min < hi and stats.max >= lo):
            groups.append(g)
    table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    key = as_numpy(table.column("partition_key"))
    inside = (key >= lo) & (key < hi)
    return table if inside.all() else table.filter(pa.array(inside))


def key_range(part: int, parts: int) -> tuple[int, int]:
    """The partition keys [lo, hi) reduce task `part` of `parts` takes."""
    return (part << 32) // parts, ((part + 1) << 32) // parts


def _check_errors(plan: Plan, planned: PlannedStep, step: Step, st: StepStats, reasons: np.ndarray) -> None:
    """Ends the task once the step has failed on more documents than the pipeline's error budget."""
    if not any(r and r.startswith(ERROR) for r in reasons):
        return
    failed = sum(n for reason, n in st.removed.items() if reason.startswith(ERROR))
    budget = plan.config.error_budget
    if failed > budget.docs and failed > budget.share * st.docs_in:
        raise RunFailed(f"{planned.label} failed on {failed} of {st.docs_in} documents (error_budget: more than "
                        f"{budget.docs} and {budget.share:.0%}); the first failure:\n{step.first_error}")


def _previous_stage(plan: Plan, layout: Layout, stage: int, task: int) -> Iterator[pa.RecordBatch]:
    folder = layout.data(stage - 1, last=False)
    marker = json.loads(layout.marker(stage - 1, task).read_text())
    for name in marker["shards"]:
        for batch in pq.ParquetFile(folder / name).iter_batches(batch_size=plan.reader.params.batch_size):
            yield from bounded(batch, "text", plan.reader.params)


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


