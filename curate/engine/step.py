"""The step protocol and the registry that maps a YAML step name to its class.

A step owns one decision over a `pyarrow.RecordBatch`; the engine owns the
bookkeeping (counting, timing, sampling rejects, writing). Three kinds:

- `Step`: returns the batch with columns changed or added (same rows).
- `Filter`: returns a keep-mask and, for dropped rows, a reason (and, where it
  also rewrites columns, as `extract.html` does, the rewritten batch).
- `GlobalStep`: needs the whole corpus (dedup). It emits keys with a partition
  during one stage; the executor reduces each partition range in parallel; the
  driver turns the small findings into decisions, which the next stage applies
  (dropping rows, adding the step's columns).

A step may also report named counts (`self.count("emails_replaced", per_row)`),
which the engine sums into the manifest per step and per source, and keep rows
for a report (`self.record(table)`: which benchmark items a document matched),
which the engine gathers from every task and hands to the step's `report` once
the run is done (`reports/contamination.json` beside the manifest).

A step's YAML name is its module path: `filter.length` lives in
`curate/filters/length.py`, `dedup.exact` in `curate/dedup/exact.py`; a module
holding a family of steps names them one level down (`filter.gopher.quality`
in `curate/filters/gopher.py`).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import ConfigDict

from provenance.yamlfile import Strict

from .documents import Documents
from .registry import Registry

ERROR = "error:"  # the prefix of removal reasons that say a step failed on a document

# The first part of a step name -> the package that holds it.
STEP_PACKAGES = {
    "extract": "curate.extract",
    "normalize": "curate.normalize",
    "filter": "curate.filters",
    "dedup": "curate.dedup",
    "decontam": "curate.decontam",
    "pii": "curate.pii",
    "provenance": "provenance",  # licence and opt-out tagging (provenance/license.py, ...)
}


def _module_of(name: str) -> str | None:
    prefix, _, rest = name.partition(".")
    module, package = rest.partition(".")[0], STEP_PACKAGES.get(prefix)
    return f"{package}.{module}" if package and module else None


STEPS = Registry("step", _module_of, list(STEP_PACKAGES.values()))
register = STEPS.register  # class decorator: make a step available under a name in pipeline files
get_step = STEPS.get
all_steps = STEPS.all


class Params(Strict):
    """Base for a step's parameters, frozen: as for every config model, unknown keys are errors, not
    silently ignored, and so is true/false where a number is expected."""

    model_config = ConfigDict(frozen=True)


@dataclass
class FilterResult:
    keep: np.ndarray  # bool, one per row
    reasons: np.ndarray  # object (str or None), one per row; read only where keep is False
    batch: pa.RecordBatch | None = None  # the same rows with columns rewritten, where the filter does that


class Step:
    """Maps a batch to a batch with the same rows."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    needs: ClassVar[dict[str, pa.DataType]] = {"text": pa.large_string()}
    adds: ClassVar[dict[str, pa.DataType]] = {}
    removes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Params):
        self.params = params
        self._counts: dict[str, np.ndarray] = {}
        self._records: list[pa.Table] = []
        self.first_error: str | None = None  # the traceback of the first document this step failed on

    @classmethod
    def check(cls, params: Params) -> None:
        """Extra validation beyond the pydantic model; raise ValueError with a clear message."""

    def setup(self) -> None:
        """Load what the step needs (models, tables) once per worker process."""

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError

    def count(self, name: str, per_row: np.ndarray) -> None:
        """Report a named count for the batch being processed (e.g. "emails_replaced"), one value per
        row of that batch; the engine sums it into the manifest per step and per source."""
        per_row = np.asarray(per_row, dtype=np.int64)
        self._counts[name] = self._counts[name] + per_row if name in self._counts else per_row

    def record(self, rows: pa.Table) -> None:
        """Keep rows for this step's report (any columns the step chooses, the same in every call)."""
        self._records.append(rows)

    def take_records(self) -> list[pa.Table]:
        records, self._records = self._records, []
        return records

    def report(self, records: pa.Table, folder: Path) -> list[str]:
        """Write this step's report files into `folder` from the rows every task recorded (an empty
        table if none did) and return their names; called once, in the driver, after the last stage."""
        return []

    def failed(self, err: BaseException) -> str:
        """The removal reason for a document this step raised on (`error:<Exception>`), called in the
        `except` block; the first traceback is kept for the message that ends a run whose step fails on
        more documents than `error_budget` allows."""
        if self.first_error is None:
            self.first_error = traceback.format_exc()
        return f"{ERROR}{type(err).__name__}"

    @staticmethod
    def counted_reason(reason: str) -> str:
        """A removal reason as the manifest counts it; a step whose reasons name a document
        (`near_duplicate_of:ID`) counts them under their kind, and keeps the whole reason in samples."""
        return reason

    def take_counts(self) -> dict[str, np.ndarray]:
        """The counts reported since the last call (the engine's side of `count`)."""
        counts, self._counts = self._counts, {}
        return counts


class Filter(Step):
    """Decides per row whether to keep it; the engine removes, counts and samples."""

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        raise NotImplementedError


# The columns of a global step's decisions besides the ones it `adds`.
DECISION = {"task": pa.int32(), "row": pa.int64(), "reason": pa.string()}


class GlobalStep(Step):
    """A whole-corpus decision (dedup, contamination top-k), in three parts so that no process holds
    every document's keys; the engine ends a stage at it and applies its decisions in the next.

    - `keys(batch)`, in each task: the rows' keys, as a table with `row` (the row's index in the
      batch; a row may give several keys or none), `partition_key` (uint32, spread evenly: keys that
      must meet share one) and the step's own columns.
    - `reduce(keys, documents)`, in parallel in the executor: the keys of one range of partition keys
      from every task (`task` added, `row` now the row's index in its task) -> a small table of
      findings; `documents.take(task, rows, column)` reads back the documents a step must look at
      again (engine/documents.py).
    - `decide(findings)`, once in the driver: every range's findings -> decisions, one row per
      (`task`, `row`) to drop (`reason` set) or to annotate (`reason` null), with a value for each
      column the step `adds`. Rows no decision names are kept, their added columns null.
    - `apply(batch, at, decisions)`, only for a step that also rewrites the rows its decisions name
      (dedup.lines cuts repeated lines), in the next stage: `at` are those rows' places in the batch,
      `decisions` their decision rows (with any private column the step's `decision_schema` adds).
    """

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        raise NotImplementedError

    def reduce(self, keys: pa.Table, documents: Documents) -> pa.Table:
        raise NotImplementedError

    def decide(self, findings: pa.Table) -> pa.Table:
        return findings

    def apply(self, batch: pa.RecordBatch, at: np.ndarray, decisions: pa.Table) -> pa.RecordBatch:
        return batch

    @classmethod
    def decision_schema(cls) -> pa.Schema:
        return pa.schema(list({**DECISION, **cls.adds}.items()))
