"""Proxy runs: one small training run per mixture, each in its own folder, through one train function.

A job's folder holds job.json (which job it is), mixture.yaml, the trainer's output in train/, and
result.json once it has run: its losses, or the error that stopped it (with the traceback in
error.txt). Jobs are tasks of curation's executor protocol (curate/engine/executor.py) with
result.json as their marker: a rerun trains only the jobs without a result of their own, failed ones
included (a result of another job or a failure is deleted first, so it does not count as done). The
trainer is reached through `train_fn(config, out_dir)`, `train.api.train`'s signature, so tests pass
a fake. Several jobs run at once in spawned worker processes where asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.executors.local import LocalExecutor, LocalParams

from .config import MixPlan
from .files import write_json, write_mixture

log = logging.getLogger("gristmill")

TrainFn = Callable[[dict, Path], Any]  # train.api.train: (config, out_dir) -> result with .val, .tokens, .flops


def default_train_fn(config: dict, out_dir: Path):
    """The real trainer, imported on first use so that `mixing` loads without torch."""
    from train.api import train

    return train(config, out_dir)


class ProxyFailed(RuntimeError):
    """Some proxies raised; the finished ones are kept and a rerun retries the rest."""


@dataclass(frozen=True)
class ProxyJob:
    """One proxy: its mixture, its training settings and its folder."""

    label: str
    folder: Path
    weights: dict[str, float]
    tokens_dir: str
    seed: int  # of the mixture's data order and of the model's initialisation
    max_epochs: dict[str, float]
    settings: dict[str, Any]  # sweep.proxy: the train YAML's keys, with the stage's tokens and lr

    @property
    def digest(self) -> str:
        identity = [self.weights, self.tokens_dir, self.seed, self.max_epochs, self.settings]
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()

    def train_config(self) -> dict:
        """The train YAML of this proxy: one stage on its mixture, no export, evaluation only at the end
        (unless the settings say otherwise)."""
        settings = dict(self.settings)
        tokens, lr = settings.pop("tokens"), settings.pop("lr")
        evaluation = {"every": 0, **settings.pop("eval", {})}
        return {"export": False, **settings, "seed": self.seed, "eval": evaluation, "out": str(self.folder / "train"),
                "stages": [{"name": "main", "mixture": str(self.folder / "mixture.yaml"), "tokens": tokens, "lr": lr}]}


def pinned_precision(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings with `precision: auto` resolved as the trainer resolves it (bf16 or fp32, by device,
    CPU and model width), so a proxy's identity names the precision it trains in and a sweep resumed
    on another machine or trainer version never mixes precisions."""
    if settings.get("precision", "auto") != "auto":
        return settings
    from train.api import resolved_precision  # imported here so that `mixing` loads without torch

    return {**settings, "precision": resolved_precision(settings)}


def proxy_jobs(plan: MixPlan, folder: Path, runs: dict[str, tuple[np.ndarray, int]],
               settings: dict[str, Any]) -> list[ProxyJob]:
    """One job per labelled (mixture, seed), in folder/LABEL."""
    d = plan.domains
    settings = pinned_precision(settings)
    return [ProxyJob(label=label, folder=folder / label, weights=d.as_dict(w), tokens_dir=plan.config.tokens,
                     seed=seed, max_epochs=d.as_dict(d.max_epochs), settings=settings)
            for label, (w, seed) in runs.items()]


def finished(job: ProxyJob) -> dict | None:
    """The result a previous run of this very job left, if it trained."""
    marker = job.folder / "result.json"
    if marker.is_file():
        record = json.loads(marker.read_text())
        if record.get("job") == job.digest and "error" not in record:
            return record
    return None


def train_one(job: ProxyJob, train_fn: TrainFn) -> dict:
    """Train one proxy and return its result; a folder left by another job is cleared first,
    one left by this job is handed to the trainer as it is (so it can resume from a checkpoint)."""
    stamp = job.folder / "job.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("job") != job.digest:
        shutil.rmtree(job.folder)
    job.folder.mkdir(parents=True, exist_ok=True)
    write_json(stamp, {"job": job.digest, "label": job.label})
    write_mixture(job.folder / "mixture.yaml", job.weights, job.tokens_dir, job.seed, job.max_epochs)
    started = time.perf_counter()
    result = train_fn(job.train_config(), job.folder / "train")
    missing = sorted(set(job.weights) - set(result.val))
    if missing:
        log.warning("proxy %s has no validation loss for %s: the trainer must evaluate every source of the "
                    "mixture, weight 0 included; these metrics stay empty for it", job.label, ", ".join(missing))
    record = {"label": job.label, "job": job.digest, "weights": job.weights,
              "val": {s: dict(v) for s, v in result.val.items()}, "tokens": int(result.tokens),
              "flops": float(result.flops), "seconds": round(time.perf_counter() - started, 3)}
    return record


@dataclass(frozen=True)
class ProxyTask:
    """One job as an executor's task: its marker is result.json."""

    job: ProxyJob
    train_fn: TrainFn

    @property
    def marker(self) -> Path:
        return self.job.folder / "result.json"

    def __call__(self) -> dict:
        try:
            return train_one(self.job, self.train_fn)
        except Exception as err:  # a failure is this job's result, so that the others go on
            self.job.folder.mkdir(parents=True, exist_ok=True)
            (self.job.folder / "error.txt").write_text("".join(traceback.format_exception(err)))
            return {"label": self.job.label, "job": self.job.digest, "error": f"{type(err).__name__}: {err}"}


def run_jobs(jobs: list[ProxyJob], train_fn: TrainFn, parallel: int,
             on_result: Callable[[dict[str, dict]], None] = lambda done: None) -> dict[str, dict]:
    """Train every job without a result, `parallel` at a time; returns every job's result and calls
    `on_result` with them as each job finishes. A failed job does not stop the others: ProxyFailed is
    raised once they are done."""
    done: dict[str, dict] = {}
    for job in jobs:
        if (record := finished(job)) is not None:
            done[job.label] = record
        else:  # another job's result or a failure: not done
            (job.folder / "result.json").unlink(missing_ok=True)

    def settle(record: dict) -> int:
        if "error" in record:
            log.error("proxy %s failed: %s", record["label"], record["error"])
        else:
            done[record["label"]] = record
            on_result(done)
        return 0  # documents for the progress line: none

    # one worker: here (a test's train function need not be picklable); more: spawned, each with an equal
    # share of the cores (torch's OpenMP pool, once used, and CUDA do not survive a fork)
    params = LocalParams(workers=parallel, start="here" if parallel == 1 else "spawn",
                         threads_per_worker=max(1, (os.cpu_count() or 1) // parallel))
    records = LocalExecutor(params).run("proxies", [ProxyTask(job, train_fn) for job in jobs], docs=settle)
    failed = {r["label"]: r["error"] for r in records if "error" in r}
    if failed:
        first = "; ".join(f"{k}: {v}" for k, v in sorted(failed.items())[:3])
        raise ProxyFailed(f"{len(failed)} of {len(jobs)} proxies failed (error.txt in each folder; rerun to "
                          f"retry them): {first}{'; ...' if len(failed) > 3 else ''}")
    return done


def metric_columns(domains: list[str], records: list[dict]) -> dict[str, list[float]]:
    """loss/D and bpb/D for every domain, NaN where a run did not report it."""
    nan = float("nan")
    return {f"{m}/{d}": [r["val"].get(d, {}).get(m, nan) for r in records] for m in ("loss", "bpb") for d in domains}
