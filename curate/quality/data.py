"""Training documents for a quality model: each source read by its registered reader, run through its
streaming steps, normalized as the scorer will, and labelled. Every reader and step is built (paths
listed, parameters checked) for every source before any source is read, so a config mistake costs no
reading. Each input file is fingerprinted (bytes, sha256) for the model card.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from curate.engine.reader import READERS, Reader, ReadStats
from curate.engine.step import STEPS, Filter, GlobalStep, Step
from provenance.yamlfile import ConfigError

from . import normalize as norm
from .config import Source, TrainConfig


@dataclass
class Read:
    """One source's documents and what the card says about it."""

    source: Source
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # path, bytes, sha256
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(n)


def build(cfg: TrainConfig, path: str) -> list[tuple[Source, Reader, list[Step]]]:
    """Every source's reader and steps, validated; ConfigError naming the source otherwise."""
    built, errors = [], []
    for i, src in enumerate(cfg.sources):
        where = f"{path}: sources[{i}] ({src.name})"
        try:
            params = READERS.get(src.input.get("reader", "")).Params.model_validate(src.input)
            reader = READERS.get(params.reader)(params, src.name)
            reader.files()
            steps = [_step(entry) for entry in src.steps]
        except KeyError as err:
            errors.append(f"{where}: {err.args[0]}")
            continue
        except (ValidationError, ValueError) as err:
            errors.append(f"{where}: {err}")
            continue
        except ConfigError as err:
            errors += [f"{where}: {e}" for e in err.errors]
            continue
        if src.label_field and src.label_field not in reader.columns():
            errors.append(f"{where}: label_field {src.label_field!r} is not a column the reader gives "
                          f"(name it in input.keep_columns)")
        built.append((src, reader, steps))
    if errors:
        raise ConfigError(errors)
    return built


def _step(entry: dict) -> Step:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ValueError(f"a step is a one-key mapping {{name: params}}, not {entry!r}")
    (name, params), = entry.items()
    cls = STEPS.get(name)
    if issubclass(cls, GlobalStep):
        raise ValueError(f"{name} is a whole-corpus step; run it in a pipeline and train on its output")
    p = cls.Params.model_validate(params or {})
    cls.check(p)
    step = cls(p)
    step.setup()
    return step


def read(src: Source, reader: Reader, steps: list[Step], max_chars: int | None) -> Read:
    out = Read(src)
    stats = ReadStats()
    for path in reader.files():
        out.files.append(fingerprint(path))
        for batch in reader.batches(path, stats):
            batch = _through(batch, steps, out)
            if batch.num_rows:
                _add(out, batch, max_chars)
            if src.max_docs and len(out.ids) >= src.max_docs:
                del out.ids[src.max_docs:], out.texts[src.max_docs:], out.labels[src.max_docs:]
                break
        if src.max_docs and len(out.ids) >= src.max_docs:
            break
    for reason, n in stats.skipped.items():
        out.skip(f"reader:{reason}", n)
    return out


def _through(batch: pa.RecordBatch, steps: list[Step], out: Read) -> pa.RecordBatch:
    for step in steps:
        if isinstance(step, Filter):
            result = step.keep(batch)
            batch = (result.batch or batch).filter(pa.array(result.keep))
            out.skip(f"{step.name}", int((~result.keep).sum()))
        else:
            batch = step.process(batch)
    return batch


def _add(out: Read, batch: pa.RecordBatch, max_chars: int | None) -> None:
    src = out.source
    texts = norm.normalize(batch.column("text"), max_chars)
    if src.label is not None:
        labels = np.full(batch.num_rows, src.label, dtype=object)
    else:
        labels = _labels(batch.column(src.label_field), src.bins)
    has_text = pc.fill_null(pc.greater(pc.utf8_length(texts), 0), False).to_numpy(zero_copy_only=False)
    has_label = np.array([lab is not None for lab in labels], dtype=bool)
    out.skip("empty_text", (~has_text).sum())
    out.skip("no_label", (has_text & ~has_label).sum())
    keep = np.flatnonzero(has_text & has_label)
    ids = batch.column("id").to_pylist()
    texts = texts.to_pylist()
    out.ids += [ids[i] for i in keep]
    out.texts += [texts[i] for i in keep]
    out.labels += [labels[i] for i in keep]


def _labels(column: pa.Array, bins: list[float] | None) -> np.ndarray:
    """Labels from a column: its values as text (no whitespace), or numeric values cut into bins."""
    if bins is None:
        values = column.cast(pa.string()).to_pylist()
        return np.array([None if v is None or not v.strip() else "_".join(v.split()) for v in values], dtype=object)
    try:
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ConfigError([f"label_field with bins must be numeric ({err})"]) from None
    binned = np.digitize(numbers, bins).astype(str).astype(object)
    binned[np.isnan(numbers)] = None
    return binned


def fingerprint(path: str) -> dict:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"path": path, "bytes": size, "sha256": h.hexdigest()}
