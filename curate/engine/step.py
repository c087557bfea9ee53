"""The step protocol and the registry that maps a YAML step name to its class.

A step owns one decision over a `pyarrow.RecordBatch`; the engine owns the
bookkeeping (counting, timing, sampling rejects, writing). Three kinds:

- `Step`: returns the batch with columns changed or added (same rows).
- `Filter`: returns a keep-mask and, for dropped rows, a reason (and, where it
  also rewrites columns, as `extract.html` does, the rewritten batch).
- `GlobalStep`: needs the whole corpus (dedup). It emits per-row keys during
  one stage; the engine gathers them, calls `decide` once, and drops the rows
  it rejects at the start of the next stage.

A step's YAML name is its module path: `filter.length` lives in
`curate/filters/length.py`, `dedup.exact` in `curate/dedup/exact.py`; a module
holding a family of steps names them one level down (`filter.gopher.quality`
in `curate/filters/gopher.py`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

# The first part of a step name -> the package that holds it.
PACKAGES = {
    "extract": "curate.extract",
    "normalize": "curate.normalize",
    "filter": "curate.filters",
    "dedup": "curate.dedup",
}

_REGISTRY: dict[str, type[Step]] = {}


class Params(BaseModel):
    """Base for a step's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @classmethod
    def check(cls, params: Params) -> None:
        """Extra validation beyond the pydantic model; raise ValueError with a clear message."""

    def setup(self) -> None:
        """Load what the step needs (models, tables) once per worker process."""

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError


class Filter(Step):
    """Decides per row whether to keep it; the engine removes, counts and samples."""

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        raise NotImplementedError


class GlobalStep(Step):
    """A whole-corpus decision; the engine splits the run into stages around it."""

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        """Per-row keys the decision needs, in row order."""
        raise NotImplementedError

    def decide(self, keys: Iterable[pa.Table]) -> Iterable[FilterResult]:
        """Given every task's keys in task order, the rows to keep in each task, in that order."""
        raise NotImplementedError


def register(name: str):
    """Class decorator: make a step available under `name` in pipeline files."""

    def wrap(cls: type[Step]) -> type[Step]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"step {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def get_step(name: str) -> type[Step]:
    """The class registered as `name`, importing its module on first use."""
    if name not in _REGISTRY:
        prefix, _, rest = name.partition(".")
        module = rest.partition(".")[0]
        package = PACKAGES.get(prefix)
        if package and module:
            try:
                importlib.import_module(f"{package}.{module}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{module}":
                    raise
    if name not in _REGISTRY:
        raise KeyError(name)
    return _REGISTRY[name]


def all_steps() -> dict[str, type[Step]]:
    """Every step the packages define, by name."""
    for package in PACKAGES.values():
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{info.name}")
    return dict(sorted(_REGISTRY.items()))
