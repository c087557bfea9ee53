"""Run a plan: stages in order, tasks in parallel, global decisions between stages,
then the manifest. A rerun of a killed run skips every task that has a marker."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .config import ConfigError
from .layout import Layout
from .local import LocalExecutor
from .plan import Plan
from .stats import StepStats
from .writers import write_jsonl

log = logging.getLogger("gristmill")

PACKAGES = ["gristmill", "pyarrow", "polars", "numpy", "datatrove", "datasets", "pydantic", "spacy", "xxhash"]


def run(plan: Plan, overwrite: bool = False, progress: bool = True) -> dict:
    layout = Layout(Path(plan.config.output.path))
    config_hash = plan.config_hash()
    if _finished(layout, config_hash, overwrite):
        log.info("%s is already complete for this config (%s); nothing to do", layout.out, config_hash[:12])
        return json.loads(layout.manifest.read_text())
    layout.work.mkdir(parents=True, exist_ok=True)
    _attach_log(layout)
    layout.run_state.write_text(json.dumps({"config_hash": config_hash}))
    started = time.perf_counter()
    log.info("run %s (config %s): %d input files, %d stage(s)", plan.config.name, config_hash[:12],
             len(plan.files), len(plan.stages))

    executor = LocalExecutor(plan, layout, plan.config.executor.workers, progress)
    markers: list[list[dict]] = []
    for stage in plan.stages:
        if stage.index > 0:
            _decide(plan, layout, stage.index)
        markers.append(executor.run_stage(stage.index, len(plan.files)))

    manifest = _manifest(plan, layout, config_hash, markers, time.perf_counter() - started)
    tmp = layout.out / ".tmp-manifest.json"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, layout.manifest)
    shutil.rmtree(layout.work)
    log.info("done: %d documents kept of %d read, in %.1f s", manifest["output"]["docs"],
             manifest["read"]["docs"], manifest["seconds"])
    return manifest


def _finished(layout: Layout, config_hash: str, overwrite: bool) -> bool:
    """True when the output already holds this config's finished run. A half-done run of the
    same config is resumed; anything else in the way needs --overwrite."""
    if layout.manifest.exists():
        previous = json.loads(layout.manifest.read_text())["config_hash"]
    elif layout.run_state.exists():
        previous = json.loads(layout.run_state.read_text())["config_hash"]
    elif layout.out.exists() and any(layout.out.iterdir()):
        previous = "not a gristmill run"
    else:
        return False
    if overwrite:
        shutil.rmtree(layout.out)
        return False
    if previous != config_hash:
        raise ConfigError([f"output.path: {layout.out} holds something else ({previous[:20]}), "
                           "not a run of this config; choose another path or pass --overwrite"])
    if layout.manifest.exists():
        shutil.rmtree(layout.work, ignore_errors=True)
        return True
    return False


def _attach_log(layout: Layout) -> None:
    handler = logging.FileHandler(layout.log, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(processName)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _decide(plan: Plan, layout: Layout, stage: int) -> None:
    """Run the global step that ends stage-1 over every task's keys; save a keep-mask per task."""
    done = layout.decision_done(stage)
    if done.exists():
        return
    barrier = plan.stages[stage - 1].barrier
    step = barrier.build()
    step.setup()
    t0 = time.perf_counter()
    n = len(plan.files)
    keys = (pq.read_table(layout.keys(stage - 1, t)) for t in range(n))
    done.parent.mkdir(parents=True, exist_ok=True)
    for task, result in enumerate(step.decide(keys)):
        path = layout.decision(stage, task)
        tmp = path.with_name(f".tmp-{task:05d}.npz")
        with open(tmp, "wb") as f:
            np.savez(f, keep=result.keep, reasons=np.asarray(result.reasons, dtype=object))
        os.replace(tmp, path)
    done.write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 4)}))
    log.info("%s decided over %d tasks in %.2f s", barrier.label, n, time.perf_counter() - t0)


def _manifest(plan: Plan, layout: Layout, config_hash: str, markers: list[list[dict]], seconds: float) -> dict:
    steps: dict[str, StepStats] = {}
    for stage in plan.stages:
        for s in stage.steps + ([stage.barrier] if stage.barrier else []):
            steps[s.label] = StepStats()
    read = {"docs": 0, "bytes": 0, "skipped": {}}
    inputs, shards = [], []
    for stage_markers in markers:
        for m in stage_markers:
            inputs += m["inputs"]
            for k in ("docs", "bytes"):
                read[k] += m["read"][k]
            for kind, count in m["read"]["skipped"].items():
                read["skipped"][kind] = read["skipped"].get(kind, 0) + count
            for label, st in m["steps"].items():
                steps[label].merge(st)
    for stage in range(1, len(plan.stages)):
        decided = json.loads(layout.decision_done(stage).read_text())
        steps[plan.stages[stage - 1].barrier.label].seconds += decided["seconds"]
    for m in markers[-1]:
        for name in m["shards"]:
            path = layout.out / name
            rows = pq.ParquetFile(path).metadata.num_rows if name.endswith(".parquet") else None
            shards.append({"name": name, "rows": rows, "bytes": path.stat().st_size})
    last = list(steps.values())[-1] if steps else None
    docs = last.docs_out if last else read["docs"]
    out_bytes = last.bytes_out if last else read["bytes"]
    _write_rejected(plan, layout, markers)
    return {
        "name": plan.config.name,
        "config_hash": config_hash,
        "config": plan.resolved(),
        "config_file": plan.source_path,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "packages": {p: _version(p) for p in PACKAGES},
        "inputs": inputs,
        "read": read,
        "steps": [{"step": label, **st.as_dict()} for label, st in steps.items()],
        "output": {"path": str(layout.out), "format": plan.config.output.format, "docs": docs,
                   "bytes": out_bytes, "shards": shards,
                   "columns": {c: str(t) if t is not None else "from input" for c, t in plan.columns.items()}},
        "seconds": round(seconds, 3),
    }


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


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
