"""filter.language: language id with py3langid (its model ships inside the package; nothing is
downloaded), adding `lang` and `lang_score`, keeping the listed languages above a minimum score.

Decompressing the shipped model (LZMA, 68 MB of arrays) costs every worker 1-2 s. So the first process
to load it saves the arrays as plain .npy files in ~/.cache/gristmill (see `cache.py`), one folder per
model file; later processes map them into memory instead.
"""

from __future__ import annotations

import importlib.metadata
import io
import lzma
import os
import shutil
import tempfile
from array import array
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field

from curate.engine.step import Filter, FilterResult, Params, register
from curate.filters.cache import cache_dir

MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


class LanguageParams(Params):
    languages: list[str] | None = None  # ISO 639-1 codes to keep; None keeps every language
    min_score: float = Field(0.0, ge=0, le=1)  # normalized probability of the top language
    max_chars: int = Field(5000, gt=0)  # identify on the first characters only: faster, as accurate


@register("filter.language")
class LanguageFilter(Filter):
    """Identify each document's language; drop other languages and low-confidence documents."""

    Params = LanguageParams
    adds = {"lang": pa.string(), "lang_score": pa.float32()}

    def setup(self) -> None:
        self.model = identifier()

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        p = self.params
        texts = batch.column("text").to_pylist()
        found = [self.model.classify(t[: p.max_chars]) if t.strip() else ("und", 0.0) for t in texts]
        langs = np.array([lang for lang, _ in found], dtype=object)
        scores = np.array([score for _, score in found], dtype=np.float32)
        keep = scores >= p.min_score
        reasons = np.where(keep, None, "low_language_score").astype(object)
        if p.languages is not None:
            other = ~np.isin(langs, p.languages)
            reasons[keep & other] = "language_not_kept"
            keep &= ~other
        out = batch.append_column("lang", pa.array(langs.tolist(), pa.string()))
        out = out.append_column("lang_score", pa.array(scores))
        return FilterResult(keep, reasons, out)


def identifier():
    """py3langid's identifier with normalized probabilities, as `LanguageIdentifier.from_model_file`
    builds it, from the cached arrays."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    arrays = model_arrays(MODEL_DIR / MODEL_FILE)
    return LanguageIdentifier(arrays["ptc"], arrays["pc"], arrays["classes"].tolist(),
                              _stdlib_array(arrays["nextmove"]), arrays["out_feat"].tolist(),
                              norm_probs=True, tk_row=_stdlib_array(arrays["nextmove_row"]))


def model_arrays(model: Path) -> dict[str, np.ndarray]:
    """The model file's arrays: memory-mapped from the cache, or decompressed and then cached."""
    stat = model.stat()
    folder = cache_dir() / f"py3langid-{importlib.metadata.version('py3langid')}-{stat.st_size}-{stat.st_mtime_ns}"
    try:
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in MODEL_ARRAYS}
    except (OSError, ValueError):
        pass
    with lzma.open(model) as f, np.load(io.BytesIO(f.read()), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in MODEL_ARRAYS}
    _save(folder, arrays)
    return arrays


def _save(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Written whole into a temporary folder, then renamed: a process that loses the race to another
    (or finds no writable cache) keeps its arrays in memory."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(dir=folder.parent)
    except OSError:
        return
    try:
        for name, values in arrays.items():
            np.save(Path(staging) / f"{name}.npy", values, allow_pickle=False)
        os.replace(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def _stdlib_array(values: np.ndarray) -> array:
    """An unsigned integer array as the stdlib array py3langid's DFA walk indexes (faster than numpy
    item by item)."""
    out = array(values.dtype.char)
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out
