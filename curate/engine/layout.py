"""Where a run keeps its files: final shards and manifest in the output folder; per-stage
intermediate data, completion markers, a global step's keys, findings and decisions under `_work/`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    out: Path

    @property
    def work(self) -> Path:
        return self.out / "_work"

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.json"

    @property
    def log(self) -> Path:
        return self.out / "run.log"

    @property
    def lock(self) -> Path:
        return self.out / ".gristmill.lock"

    def foreign(self) -> list[str]:
        """Names in the output folder that a gristmill run does not write there."""
        if not self.out.is_dir():
            return []
        ours = ("part-", ".tmp-", "_work", "rejected", "dropped", "reports", "manifest.json", "run.log",
                ".gristmill.lock")
        return sorted(p.name for p in self.out.iterdir() if not p.name.startswith(ours))

    def clear(self) -> None:
        """Remove a previous run's files (not the lock of the run that clears them)."""
        for p in self.out.iterdir():
            if p.name != self.lock.name:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    @property
    def run_state(self) -> Path:
        return self.work / "run.json"

    def stage(self, stage: int) -> Path:
        return self.work / f"stage-{stage}"

    def data(self, stage: int, last: bool) -> Path:
        """Where a stage writes its documents: the output folder for the last stage."""
        return self.out if last else self.stage(stage) / "data"

    def marker(self, stage: int, task: int) -> Path:
        return self.stage(stage) / "done" / f"task-{task:05d}.json"

    def keys(self, stage: int, task: int) -> Path:
        return self.stage(stage) / "keys" / f"task-{task:05d}.parquet"

    @property
    def reports(self) -> Path:
        return self.out / "reports"

    def records(self, stage: int, task: int, label: str) -> Path:
        """The rows a step kept for its report in one task."""
        return self.stage(stage) / "records" / label.replace(":", "-") / f"task-{task:05d}.parquet"

    def dropped(self, stage: int, task: int) -> Path:
        """Every document one task removed in one stage (id, step, reason, source, origin); moved to
        the output folder's dropped/ when the run is done."""
        return self.stage(stage) / "dropped" / f"stage-{stage}-task-{task:05d}.parquet"

    @property
    def dropped_out(self) -> Path:
        return self.out / "dropped"

    def rejected(self, stage: int, task: int) -> Path:
        return self.stage(stage) / "rejected" / f"task-{task:05d}.jsonl"

    def findings(self, stage: int, part: int) -> Path:
        """What the global step ending `stage` found in one range of its keys."""
        return self.stage(stage) / "reduce" / f"part-{part:05d}.parquet"

    def reduce_marker(self, stage: int, part: int) -> Path:
        return self.stage(stage) / "reduce" / "done" / f"part-{part:05d}.json"

    def decision(self, stage: int, task: int) -> Path:
        """What a global step decided for the rows `task` gives to `stage`: rows to drop or annotate."""
        return self.stage(stage) / "decision" / f"task-{task:05d}.parquet"

    def decision_done(self, stage: int) -> Path:
        return self.stage(stage) / "decision" / "_done.json"

    @staticmethod
    def shard_prefix(task: int) -> str:
        return f"part-{task:05d}"
