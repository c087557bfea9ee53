"""The `ray` executor: the same tasks as the local executor, run as Ray tasks on a Ray cluster.

A task (curate/engine/task.py) is one input file through one stage, or one key range of a global
step's reduce; each runs as one Ray task and writes its shards, keys and completion marker where
it runs, exactly as under the local executor, so the output is the same by construction, a rerun
after a killed driver skips the finished tasks, and a task whose worker process or node dies is
rerun by Ray (`max_retries`) from scratch (it first removes what its killed attempt left). Steps
are set up once per Ray worker process (`built_steps` keeps them), and Ray reuses its workers
across the tasks and stages of a run.

Ray tasks rather than Ray Data's map_batches: the task owns the bookkeeping (stats per step and
source, sampled rejects, a global step's keys numbered by row, shard names per input file) that
makes the output identical to a local run and resumable per file; a Ray Data pipeline re-batches
and names its own output blocks, and a killed driver restarts it from the beginning. A task is one
file, so Ray's cost is paid per file, not per batch (benchmarks/executors.py measures both).

Requirements on a cluster: every node imports the same gristmill (installed in the node's Python,
or shipped with `runtime_env`), and every node sees the input and output paths at the same place
(shared storage: NFS, Lustre, a FUSE mount); a worker runs in the driver's working directory when
that folder exists on its node, so relative paths in the YAML work where the checkout is shared.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from curate.engine.executor import Executor, ExecutorParams, Task, complete, register

log = logging.getLogger("gristmill")

# driver environment variables a worker needs to behave as a local run does (caches, offline mode)
FORWARDED_ENV = ["XDG_CACHE_HOME", "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"]


class RayParams(ExecutorParams):
    # where the cluster is: null starts a private Ray instance in this process (num_cpus of it);
    # `auto` joins the cluster this machine is part of (`ray start` ran here); `HOST:PORT` its head's
    # GCS address; `ray://HOST:PORT` the Ray Client server of a remote head
    address: str | None = None
    num_cpus: int | None = Field(None, gt=0)  # only when address is null: CPUs of the private instance
    workers: int | None = Field(None, gt=0)  # tasks running at once at most (null: as many as the cluster fits)
    cpus_per_task: float = Field(1.0, gt=0)  # Ray's num_cpus per task (sets its OMP/BLAS threads too)
    memory_mb: int | None = Field(None, gt=0)  # Ray's memory reservation per task: fewer tasks per node
    max_retries: int = Field(3, ge=0)  # reruns of a task whose worker process or node died
    runtime_env: dict[str, Any] = {}  # Ray's runtime_env for the tasks (pip, env_vars, ...)
    forward_env: list[str] = FORWARDED_ENV  # driver environment variables set in every task, when set here

    @model_validator(mode="after")
    def _installed(self):
        if importlib.util.find_spec("ray") is None:
            raise ValueError("executor kind `ray` needs Ray, an optional extra: pip install 'gristmill[ray]' "
                             "(or 'ray[data]==2.60.0')")
        if self.address and self.num_cpus:
            raise ValueError("num_cpus sizes a private Ray instance (address: null); a cluster's size is "
                             "set where its nodes start (`ray start --num-cpus N`)")
        return self


@register("ray")
class RayExecutor(Executor):
    Params = RayParams

    def launch(self, tasks: list[Task]) -> Iterator[dict]:
        ray = connect(self.params)
        p: RayParams = self.params
        env = {k: os.environ[k] for k in p.forward_env if k in os.environ}
        runtime_env = dict(p.runtime_env)
        if env:
            runtime_env["env_vars"] = {**env, **runtime_env.get("env_vars", {})}
        options: dict[str, Any] = {"num_cpus": p.cpus_per_task, "max_retries": p.max_retries,
                                   "retry_exceptions": False}  # a step's error fails the same way again
        if p.memory_mb:
            options["memory"] = p.memory_mb << 20
        if runtime_env:
            options["runtime_env"] = runtime_env
        remote = ray.remote(_run).options(**options)
        where = (os.getcwd(), str(Path(self.log_path).absolute()) if self.log_path else None)

        def submit(task: Task):
            return remote.remote(task, *where)

        pending = list(reversed(tasks))
        running = [submit(pending.pop()) for _ in range(min(p.workers or len(tasks), len(tasks)))]
        return _finished(ray, submit, pending, running, p.max_retries)


def connect(params: RayParams):
    """Ray, initialised for this process: joined to `params.address`, or a private instance. A process
    that already called `ray.init` (a notebook, a test, the previous stage) keeps its connection."""
    import ray

    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "configure_logging": True}
    if params.address:
        kwargs["address"] = params.address
    else:
        kwargs.update(num_cpus=params.num_cpus, include_dashboard=False)
    ray.init(**kwargs)
    resources = ray.cluster_resources()
    log.info("ray: %s, %d node(s), %g CPUs", params.address or "private instance", len(ray.nodes()),
             resources.get("CPU", 0))
    return ray


def _finished(ray, submit, pending: list[Task], running: list, retries: int) -> Iterator[dict]:
    """Markers as tasks finish; the next task starts as one ends. A task's own error ends the run with
    that error (the tasks still running are cancelled; their finished siblings keep their markers)."""
    try:
        while running:
            [done], running = ray.wait(running, num_returns=1)
            try:
                marker = ray.get(done)
            except ray.exceptions.RayTaskError as err:
                log.info("a task failed on Ray:\n%s", err)  # the worker's traceback, for run.log
                cause = err.cause if isinstance(err.cause, Exception) else None
                if cause is not None:
                    raise cause from None
                raise
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.OutOfMemoryError) as err:
                # died more often than max_retries: what the local executor's dead worker raises, so the CLI
                # says the same (finished tasks are kept; rerun to finish the rest)
                raise BrokenProcessPool(f"a Ray task's worker died {1 + retries} time(s): {err}") from err
            if pending:
                running.append(submit(pending.pop()))
            yield marker
    finally:
        for ref in running:
            ray.cancel(ref)


_PREPARED: tuple | None = None


def _run(task: Task, cwd: str, log_path: str | None) -> dict:
    """Runs in a Ray worker process: in the driver's folder (when this node has it), logging to the run's
    log as local workers do, then the task and its marker."""
    global _PREPARED
    if _PREPARED != (cwd, log_path):
        if os.path.isdir(cwd):
            os.chdir(cwd)
        logger = logging.getLogger("gristmill")
        logger.handlers.clear()
        if log_path and os.path.isdir(os.path.dirname(log_path)):
            handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s ray-worker-%(process)d %(levelname)s %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _PREPARED = (cwd, log_path)
    return complete(task)
