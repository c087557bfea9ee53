"""The local executor: worker processes on this machine, one task per input shard.

Tasks that already have a completion marker are skipped, so rerunning a killed
run finishes only what is left. Progress is a rich bar, quiet when `CI` is set.

On Linux workers are forked: they start with every module the plan already imported (pyarrow, numpy,
the steps' modules), about 0.5 s sooner each than a freshly spawned interpreter. The pool forks them
all at its first `submit`, before it (or the progress bar) starts a thread, so no lock is copied held.
Elsewhere (macOS, Windows) they are spawned.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .layout import Layout
from .plan import Plan
from .task import run_task

log = logging.getLogger("gristmill")

START_METHOD = "fork" if sys.platform == "linux" else "spawn"


def _init_worker(log_path: str) -> None:
    logger = logging.getLogger("gristmill")
    logger.handlers.clear()
    handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(processName)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class LocalExecutor:
    def __init__(self, plan: Plan, layout: Layout, workers: int, progress: bool = True):
        self.plan, self.layout, self.workers = plan, layout, workers
        self.progress = progress and not os.environ.get("CI")

    def run_stage(self, stage: int, n_tasks: int) -> list[dict]:
        """Run every unfinished task of a stage; return all of its markers in task order."""
        todo = [t for t in range(n_tasks) if not self.layout.marker(stage, t).exists()]
        if len(todo) < n_tasks:
            log.info("stage %d: %d of %d tasks already done, skipping them", stage, n_tasks - len(todo), n_tasks)
        if todo:
            self._run(stage, todo, n_tasks)
        return [json.loads(self.layout.marker(stage, t).read_text()) for t in range(n_tasks)]

    def _run(self, stage: int, todo: list[int], n_tasks: int) -> None:
        workers = min(self.workers, len(todo))
        ctx = mp.get_context(START_METHOD)
        columns = [TextColumn(f"stage {stage + 1}/{len(self.plan.stages)}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("tasks  {task.fields[docs]:,} docs"), TimeElapsedColumn()]
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(str(self.layout.log),)) as pool:
            futures = [pool.submit(run_task, self.plan, self.layout, stage, t) for t in todo]
            with Progress(*columns, disable=not self.progress, transient=False) as bar:
                job = bar.add_task("run", total=n_tasks, completed=n_tasks - len(todo), docs=0)
                docs = 0
                for future in as_completed(futures):
                    marker = future.result()
                    docs += marker["read"]["docs"] if stage == 0 else 0
                    bar.update(job, advance=1, docs=docs)
        log.info("stage %d: %d tasks done", stage, len(todo))
