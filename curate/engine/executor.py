"""The executor protocol: run a list of tasks somewhere, each leaving a completion marker.

An executor is a registered component (`executor.kind: local` is `curate/executors/local.py`) with
its own typed parameters. The base class owns what every executor shares: tasks that already have a
marker are skipped (so a rerun of a killed run does only what is left), a task's marker is written
atomically by `complete` where the task ran, and the markers come back in task order. An executor
writes only `launch`: how the unfinished tasks get run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar, Protocol

from provenance.files import write_atomic
from provenance.yamlfile import Strict

from .registry import Registry

log = logging.getLogger("gristmill")

EXECUTORS = Registry("executor", lambda name: f"curate.executors.{name}", ["curate.executors"])
register = EXECUTORS.register


class Task(Protocol):
    """A picklable unit of work: calling it does the work and returns its marker's content."""

    marker: Path

    def __call__(self) -> dict: ...


def complete(task: Task) -> dict:
    """Run `task` and leave its marker; runs wherever the executor runs the task."""
    result = task()
    task.marker.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(task.marker, json.dumps(result, indent=1))
    return result


class ExecutorParams(Strict):
    """`executor:` keys every executor takes."""

    kind: str = "local"


class Executor:
    name: ClassVar[str] = ""
    Params: ClassVar[type[ExecutorParams]] = ExecutorParams

    def __init__(self, params: ExecutorParams, log_path: Path | None = None, progress: bool = True):
        self.params, self.log_path = params, log_path
        self.progress = progress and not os.environ.get("CI")

    def run(self, title: str, tasks: list[Task], docs: Callable[[dict], int] = lambda marker: 0) -> list[dict]:
        """Run every task without a marker; return all markers in task order. `docs(marker)` is
        what a finished task adds to the progress line's document count."""
        todo = [t for t in tasks if not t.marker.exists()]
        if len(todo) < len(tasks):
            log.info("%s: %d of %d tasks already done, skipping them", title, len(tasks) - len(todo), len(tasks))
        if todo:
            finished = self.launch(todo)
            with _progress(title, len(tasks), len(tasks) - len(todo), self.progress) as advance:
                for marker in finished:
                    advance(docs(marker))
            log.info("%s: %d tasks done", title, len(todo))
        return [json.loads(t.marker.read_text()) for t in tasks]

    def launch(self, tasks: list[Task]) -> Iterator[dict]:
        """Start `complete(task)` for each task, now (before the progress line starts a thread), and
        return an iterator of their markers in the order the tasks finish."""
        raise NotImplementedError


class _progress:
    """A rich progress line: tasks done of all, documents, time; nothing when quiet."""

    def __init__(self, title: str, total: int, done: int, show: bool):
        self.title, self.total, self.done, self.show = title, total, done, show

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda docs: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn(self.title), BarColumn(), MofNCompleteColumn(),
                            TextColumn("tasks  {task.fields[docs]:,} docs"), TimeElapsedColumn())
        self.bar.__enter__()
        job = self.bar.add_task("run", total=self.total, completed=self.done, docs=0)
        count = [0]

        def advance(docs: int) -> None:
            count[0] += docs
            self.bar.update(job, advance=1, docs=count[0])

        return advance

    def __exit__(self, *exc) -> None:
        if self.show:
            self.bar.__exit__(*exc)
