"""The `local` executor: worker processes on this machine, one task at a time each.

On Linux workers are forked: they start with every module the plan already imported (pyarrow, numpy,
the steps' modules), about 0.5 s sooner each than a freshly spawned interpreter. The pool forks them
all at its first `submit`, before it (or the progress bar) starts a thread, so no lock is copied held.
They are spawned instead where a fork is unsafe: on macOS and Windows, and in a process where polars
has run parallel work (its pool threads, `polars-N`, exist): a forked child that then uses polars waits
forever for threads it does not have. Importing polars alone starts no pool, so `gristmill run` forks.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Literal

from pydantic import Field

from curate.engine.executor import Executor, ExecutorParams, Task, complete, register


def start_method() -> str:
    if sys.platform != "linux":
        return "spawn"
    names = []
    for thread in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{thread}/comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            continue
    pool_started = any(n.startswith("polars-") and n[7:].isdigit() for n in names)
    return "spawn" if pool_started else "fork"


class LocalParams(ExecutorParams):
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    # how workers start: auto (fork where safe, see above), fork, spawn, or `here`: every task in this
    # process, one after another (what torch-trained mixing proxies with one worker use)
    start: Literal["auto", "fork", "spawn", "here"] = "auto"
    threads_per_worker: int | None = None  # caps OpenMP/MKL/BLAS threads in each worker (None: as they are)


def _init_worker(log_path: str | None, threads: int | None) -> None:
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)
    if log_path is None:
        return
    logger = logging.getLogger("gristmill")
    logger.handlers.clear()
    handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(processName)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@register("local")
class LocalExecutor(Executor):
    Params = LocalParams

    def launch(self, tasks: list[Task]) -> Iterator[dict]:
        if self.params.start == "here":
            return map(complete, tasks)  # each runs when the caller asks for its result
        workers = min(self.params.workers, len(tasks))
        log_path = str(self.log_path) if self.log_path else None
        method = start_method() if self.params.start == "auto" else self.params.start
        if method == "fork":
            import pandas  # noqa: F401 - pyarrow imports it on first use: once here, not ~0.2 s in every worker
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_init_worker,
                                   initargs=(log_path, self.params.threads_per_worker))
        futures = [pool.submit(complete, t) for t in tasks]  # forks every worker now, before any thread
        return _finished(pool, futures)


def _finished(pool: ProcessPoolExecutor, futures: list) -> Iterator[dict]:
    with pool:
        for future in as_completed(futures):
            yield future.result()
