"""Run a plan: stages in order, each stage's tasks on the executor, a global step's reduce and
decision between stages, then the manifest. A rerun of a killed run skips every finished task."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import math
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance.files import atomic_path, file_sha256, write_atomic
from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError

from .errors import RunFailed
from .executor import EXECUTORS, Executor
from .layout import Layout
from .plan import Plan
from .reader import PLACES_KEPT
from .schema import as_numpy
from .stats import StepStats
from .step import Step
from .task import ReduceTask, StageTask, built_steps
from .writers import write_jsonl

log = logging.getLogger("gristmill")

RECORDED_VERSIONS = ["gristmill", "pyarrow", "polars", "numpy", "datatrove", "datasets", "pydantic", "spacy",
                     "xxhash"]
REDUCE_BYTES = 256 << 20  # a global step's keys one reduce task holds at most (uncompressed)


def run(plan: Plan, overwrite: int = 0, progress: bool = True) -> RunManifest:
    """Run `plan` into its output folder. `overwrite` 1 replaces another gristmill run there, 2 any files."""
    layout = Layout(Path(plan.config.output.path))
    with output_lock(layout):
        if _finished(layout, plan, overwrite):
            log.info("%s is already complete for this config (%s); nothing to do", layout.out, plan.hash[:12])
            return RunManifest.load(layout.manifest)
        return _run(plan, layout, progress)


def _run(plan: Plan, layout: Layout, progress: bool) -> RunManifest:
    layout.work.mkdir(parents=True, exist_ok=True)
    _attach_log(layout)
    if not layout.run_state.exists():
        write_atomic(layout.run_state, json.dumps({"config_hash": plan.hash, "files": plan.files}))
    started = time.perf_counter()
    log.info("run %s (config %s): %d input files, %d stage(s)", plan.config.name, plan.hash[:12],
             len(plan.files), len(plan.stages))

    executor = EXECUTORS.get(plan.executor.kind)(plan.executor, layout.log, progress)
    n, markers = len(plan.files), []
    for stage in plan.stages:
        if stage.index > 0:
            _global_step(plan, layout, executor, stage.index - 1)
        tasks = [StageTask(plan, layout, stage.index, t) for t in range(n)]
        markers.append(executor.run(f"stage {stage.index + 1}/{len(plan.stages)}", tasks,
                                    docs=lambda m: m["read"]["docs"]))
        if stage.index == 0:
            _check_read(layout, markers[0])

    manifest = _manifest(plan, layout, markers, time.perf_counter() - started)
    manifest.reports = _write_reports(plan, layout)
    _keep_dropped(plan, layout)
    manifest.save(layout.manifest)
    shutil.rmtree(layout.work)
    log.info("done: %d documents kept of %d read, in %.1f s", manifest.output.docs, manifest.read.docs,
             manifest.seconds)
    return manifest


@contextmanager
def output_lock(layout: Layout) -> Iterator[None]:
    """One run per output folder: an exclusive lock on OUT/.gristmill.lock, held while the run lives (the
    system drops it when the process dies, however it dies, so a stale lock is simply taken over)."""
    layout.out.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise ConfigError([f"output.path: {layout.out} is being written by another gristmill run ({holder}); "
                               "wait for it, or choose another output.path"]) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, since {dt.datetime.now().isoformat(timespec='seconds')}")
        f.flush()
        try:
            yield
        finally:
            layout.lock.unlink(missing_ok=True)


def _finished(layout: Layout, plan: Plan, overwrite: int) -> bool:
    """True when the output already holds this config's finished run over the same inputs. A half-done
    run of the same config and inputs is resumed; anything else in the way needs --overwrite (twice
    for a folder that is not a gristmill run)."""
    if layout.manifest.exists():
        previous = json.loads(layout.manifest.read_text())["config_hash"]
    elif layout.run_state.exists():
        previous = json.loads(layout.run_state.read_text())["config_hash"]
    elif layout.foreign():
        previous = "not a gristmill run"
        if overwrite < 2:
            raise ConfigError([f"output.path: {layout.out} holds files that are not a gristmill run "
                               f"({', '.join(layout.foreign()[:3])}, ...); choose another path, remove them, or pass "
                               "--overwrite twice to delete them"])
    else:
        return False
    if previous != plan.hash and overwrite:
        layout.clear()
        return False
    if previous != plan.hash:
        raise ConfigError([f"output.path: {layout.out} holds something else ({previous[:20]}), "
                           "not a run of this config; choose another path or pass --overwrite"])
    changed = _changed_inputs(layout, plan)
    if changed and overwrite:
        layout.clear()
        return False
    if changed:
        raise ConfigError([f"input.paths: {c}" for c in changed] + [
            f"output.path: {layout.out} was made from other inputs; pass --overwrite to run again from scratch "
            "(a global step's decisions depend on every input, so no task is redone alone)"])
    if layout.manifest.exists():
        shutil.rmtree(layout.work, ignore_errors=True)
        return True
    return False


def _changed_inputs(layout: Layout, plan: Plan) -> list[str]:
    """How the inputs differ from those the run in `layout` read (files added or gone, content changed)."""
    if layout.manifest.exists():
        recorded = {i.file: i.sha256 for i in RunManifest.load(layout.manifest).inputs}
        files = list(recorded)
    else:
        files = json.loads(layout.run_state.read_text()).get("files", plan.files)
        done = [json.loads(p.read_text()) for p in sorted(layout.marker(0, 0).parent.glob("task-*.json"))]
        recorded = {i["file"]: i["sha256"] for m in done for i in m["inputs"]}
    changes = [f"{f} is new since this run started" for f in plan.files if f not in files]
    changes += [f"{f} is gone since this run started" for f in files if f not in plan.files]
    changes += [f"{f} changed since this run read it" for f, sha in recorded.items()
                if f in plan.files and os.path.exists(f) and file_sha256(f) != sha]
    return changes


def _check_read(layout: Layout, markers: list[dict]) -> None:
    """Ends a run whose reader found no document in input that is not empty: a wrong reader or field
    name, not an empty corpus."""
    if sum(m["read"]["docs"] for m in markers) or not sum(i["bytes"] for m in markers for i in m["inputs"]):
        return
    skipped, places = {}, {}
    for m in markers:
        for kind, count in m["read"]["skipped"].items():
            skipped[kind] = skipped.get(kind, 0) + count
        for kind, where in m["read"]["places"].items():
            places.setdefault(kind, where[0])
    causes = ", ".join(f"{n:,} {kind}" + (f" (first at {places[kind]})" if kind in places else "")
                       for kind, n in sorted(skipped.items(), key=lambda kv: -kv[1])) or "nothing recognised"
    shutil.rmtree(layout.work, ignore_errors=True)  # nothing to resume: a corrected config starts afresh
    raise RunFailed(f"the reader found no documents in {len(markers)} non-empty input file(s): {causes}; "
                    "check input.reader and input.text_field (details in run.log)")


def _attach_log(layout: Layout) -> None:
    handler = logging.FileHandler(layout.log, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(processName)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _global_step(plan: Plan, layout: Layout, executor: Executor, stage: int) -> None:
    """The global step ending `stage`: its keys reduced in ranges on the executor, the findings
    decided in this process, the decisions saved per task for the next stage."""
    done = layout.decision_done(stage + 1)
    if done.exists():
        return
    planned = plan.stages[stage].global_step
    n = len(plan.files)
    key_bytes = 0
    for t in range(n):
        meta = pq.ParquetFile(layout.keys(stage, t)).metadata
        key_bytes += sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    parts = max(1, math.ceil(key_bytes / REDUCE_BYTES))
    reduced = executor.run(f"{planned.label} reduce", [ReduceTask(plan, layout, stage, p, parts) for p in range(parts)])
    t0 = time.perf_counter()
    step = built_steps(plan, stage, global_only=True)[0][1]
    findings = pa.concat_tables([pq.ParquetFile(layout.findings(stage, p)).read() for p in range(parts)],
                                promote_options="default")
    decisions = step.decide(findings)
    missing = [c for c in step.decision_schema().names if c not in decisions.schema.names]
    if missing:
        raise RuntimeError(f"{planned.label}: decide() returned no {', '.join(missing)} column")
    decisions = decisions.select(step.decision_schema().names).cast(step.decision_schema())
    decisions = decisions.take(np.lexsort((as_numpy(decisions.column("row")), as_numpy(decisions.column("task")))))
    folder = layout.decision(stage + 1, 0).parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tasks = as_numpy(decisions.column("task"))
    for task in sorted(set(tasks.tolist())):
        lo, hi = int(tasks.searchsorted(task)), int(tasks.searchsorted(task, side="right"))
        with atomic_path(layout.decision(stage + 1, task)) as tmp:
            pq.write_table(decisions.slice(lo, hi - lo).drop_columns(["task"]), tmp, compression="zstd")
    seconds = sum(m["seconds"] for m in reduced) + time.perf_counter() - t0
    write_atomic(done, json.dumps({"seconds": round(seconds, 4), "parts": parts, "decisions": decisions.num_rows}))
    log.info("%s: %d keys reduced in %d part(s), %d decisions, %.2f s", planned.label,
             sum(m["keys"] for m in reduced), parts, decisions.num_rows, seconds)


def _manifest(plan: Plan, layout: Layout, markers: list[list[dict]], seconds: float) -> RunManifest:
    steps = {s.label: StepStats() for stage in plan.stages for s in stage.all_steps}
    read = {"docs": 0, "bytes": 0, "skipped": {}, "sources": {}, "places": {}}
    inputs, shards = [], []
    for stage_markers in markers:
        for m in stage_markers:
            inputs += m["inputs"]
            for k in ("docs", "bytes"):
                read[k] += m["read"][k]
            for kind, count in m["read"]["skipped"].items():
                read["skipped"][kind] = read["skipped"].get(kind, 0) + count
            for kind, places in m["read"]["places"].items():
                kept = read["places"].setdefault(kind, [])
                kept += places[:PLACES_KEPT - len(kept)]
            for name, totals in m["read"]["sources"].items():
                mine = read["sources"].setdefault(name, {"docs": 0, "bytes": 0})
                for k in ("docs", "bytes"):
                    mine[k] += totals[k]
            for label, st in m["steps"].items():
                steps[label].merge(st)
    for stage in range(1, len(plan.stages)):
        decided = json.loads(layout.decision_done(stage).read_text())
        steps[plan.stages[stage - 1].global_step.label].seconds += decided["seconds"]
    for m in markers[-1]:
        for name in m["shards"]:
            path = layout.out / name
            rows = pq.ParquetFile(path).metadata.num_rows if name.endswith(".parquet") else None
            shards.append({"name": name, "rows": rows, "bytes": path.stat().st_size})
    last = list(steps.values())[-1] if steps else None
    sources = ({n: {"docs": c.docs_out, "bytes": c.bytes_out} for n, c in sorted(last.sources.items()) if c.docs_out}
               if last else read["sources"])
    _write_rejected(plan, layout, markers)
    return RunManifest(
        name=plan.config.name, config_hash=plan.hash, config=plan.resolved(), config_file=plan.source_path,
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        packages={p: _version(p) for p in RECORDED_VERSIONS}, inputs=inputs, read=read,
        steps=[{"step": label, **st.as_dict()} for label, st in steps.items()],
        output={"path": str(layout.out), "format": plan.config.output.format,
                "docs": last.docs_out if last else read["docs"], "bytes": last.bytes_out if last else read["bytes"],
                "shards": shards, "sources": sources,
                "columns": {c: str(t) if t is not None else "from input" for c, t in plan.columns.items()}},
        seconds=round(seconds, 3))


def _write_rejected(plan: Plan, layout: Layout, markers: list[list[dict]]) -> None:
    k = plan.config.output.keep_rejected
    if not k:
        return
    by_step: dict[str, list[dict]] = {}
    for stage, stage_markers in enumerate(markers):
        for m in stage_markers:
            path = layout.rejected(stage, m["task"])
            for line in path.read_text().splitlines():
                row = json.loads(line)
                bucket = by_step.setdefault(row["step"], [])
                if len(bucket) < k:
                    bucket.append(row)
    folder = layout.out / "rejected"
    folder.mkdir(exist_ok=True)
    for label, rows in by_step.items():
        write_jsonl(folder / f"{label.replace(':', '-')}.jsonl", rows)


def _keep_dropped(plan: Plan, layout: Layout) -> None:
    """Every stage's records of removed documents into dropped/ (what `gristmill trace` reads)."""
    shutil.rmtree(layout.dropped_out, ignore_errors=True)
    layout.dropped_out.mkdir()
    for stage in plan.stages:
        for task in range(len(plan.files)):
            path = layout.dropped(stage.index, task)
            if pq.ParquetFile(path).metadata.num_rows:
                os.replace(path, layout.dropped_out / path.name)


def _write_reports(plan: Plan, layout: Layout) -> dict[str, list[str]]:
    """Each step that writes a report gets every task's records (an empty table if none) and writes
    its files under reports/; the manifest lists them."""
    written = {}
    for stage in plan.stages:
        for planned in stage.all_steps:
            if planned.cls.report is Step.report:
                continue
            paths = sorted(layout.stage(stage.index).glob(f"records/{planned.label.replace(':', '-')}/task-*.parquet"))
            records = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default") if paths else pa.table({})
            layout.reports.mkdir(exist_ok=True)
            names = planned.build().report(records, layout.reports)
            written[planned.label] = [f"{layout.reports.name}/{n}" for n in names]
    return written


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
