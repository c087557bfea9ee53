"""Proxy runs: one small training run per mixture, each in its own folder, through one train function.

A job's folder holds job.json (which job it is), mixture.yaml, the trainer's output in train/, and
result.json once it finishes, so a rerun trains only the jobs without one (datatrove's completion
markers). The trainer is reached through `train_fn(config, out_dir)`, `train.api.train`'s
signature, so tests pass a fake. Several jobs run at once in worker processes where asked.
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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

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
    """The result a previous run of this very job left, if any."""
    marker = job.folder / "result.json"
    if marker.is_file():
        record = json.loads(marker.read_text())
        if record.get("job") == job.digest:
            return record
    return None


def train_one(job: ProxyJob, train_fn: TrainFn) -> dict:
    """Train one proxy and leave its result.json; a folder left by another job is cleared first,
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
    write_json(job.folder / "result.json", record)
    return record


def _limit_threads(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def run_jobs(jobs: list[ProxyJob], train_fn: TrainFn, parallel: int,
             on_result: Callable[[dict[str, dict]], None] = lambda done: None) -> dict[str, dict]:
    """Train every job without a result, `parallel` at a time (each in its own process, with an
    equal share of the cores); returns every job's result. Raises ProxyFailed after the others finish."""
    done = {job.label: record for job in jobs if (record := finished(job)) is not None}
    pending = [job for job in jobs if job.label not in done]
    if done:
        log.info("%d of %d proxies already finished; training %d", len(done), len(jobs), len(pending))
    failed: dict[str, str] = {}

    def settle(job: ProxyJob, get_record: Callable[[], dict]) -> None:
        try:
            done[job.label] = get_record()
            log.info("proxy %s finished (%d of %d)", job.label, len(done), len(jobs))
        except Exception as err:  # one proxy's failure must not stop the others
            failed[job.label] = f"{type(err).__name__}: {err}"
            job.folder.mkdir(parents=True, exist_ok=True)
            (job.folder / "error.txt").write_text("".join(traceback.format_exception(err)))
            log.error("proxy %s failed: %s", job.label, failed[job.label])
        on_result(done)

    if parallel == 1 or len(pending) <= 1:
        for job in pending:
            settle(job, lambda job=job: train_one(job, train_fn))
    else:
        workers = min(parallel, len(pending))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_limit_threads,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(train_one, job, train_fn): job for job in pending}
            for future in as_completed(futures):
                settle(futures[future], future.result)
    if failed:
        first = "; ".join(f"{k}: {v}" for k, v in sorted(failed.items())[:3])
        raise ProxyFailed(f"{len(failed)} of {len(jobs)} proxies failed (error.txt in each folder; rerun to "
                          f"retry them): {first}{'; ...' if len(failed) > 3 else ''}")
    return done


def metric_columns(domains: list[str], records: list[dict]) -> dict[str, list[float]]:
    """loss/D and bpb/D for every domain, NaN where a run did not report it."""
    nan = float("nan")
    return {f"{m}/{d}": [r["val"].get(d, {}).get(m, nan) for r in records] for m in ("loss", "bpb") for d in domains}
