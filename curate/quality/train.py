"""`gristmill quality train CONFIG.yaml`: read the labelled sources, drop repeated texts, balance the
labels, hold out a share by a hash of each id, train fastText (thread=1 and a seed: the same inputs
give a byte-identical model), score the held-out documents with the scorer `filter.quality` uses,
and write model.bin, card.json and card.md into the output folder, whole or not at all.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import multiprocessing
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from provenance.files import atomic_path
from provenance.yamlfile import ConfigError

from . import card as cards
from . import data
from . import normalize as norm
from .config import TrainConfig, load_config
from .model import QualityModel

log = logging.getLogger("gristmill")


def train_file(path: str, overrides: list[str] = ()) -> Path:
    """Train by a config file; returns the model's folder."""
    return train(load_config(path, overrides), path)


def _hash(ids: list[str], seed: int) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(i, seed=seed) for i in ids), dtype=np.uint64, count=len(ids))


def train(cfg: TrainConfig, path: str = "config") -> Path:
    built = data.build(cfg, path)  # every reader, path and step checked before anything is read
    reads = [data.read(src, reader, steps, cfg.max_chars) for src, reader, steps in built]
    ids = [i for r in reads for i in r.ids]
    texts = [t for r in reads for t in r.texts]
    labels = np.array([lab for r in reads for lab in r.labels], dtype=object)
    _check_labels(cfg, path, labels)

    keep = np.ones(len(ids), dtype=bool)
    if cfg.dedup:  # first copy of each normalized text, in source order
        _, first = np.unique(_hash(texts, 0), return_index=True)
        keep[:] = False
        keep[first] = True
    heldout = _hash(ids, 0) < np.uint64(int(cfg.heldout * 2**64))  # the same split whatever the seed
    order = _hash(ids, cfg.seed + 1)
    chosen = _balanced(labels, keep, order, cfg)
    train_rows = chosen[~heldout[chosen]]
    test_rows = chosen[heldout[chosen]]
    train_rows = train_rows[np.argsort(order[train_rows], kind="stable")]  # shuffled, by seed
    for lab in sorted(set(labels)):
        if not (labels[test_rows] == lab).any() or not (labels[train_rows] == lab).any():
            raise ConfigError([f"{path}: label {lab!r} has too few documents for both a training and a held-out "
                               f"share ({int((labels[chosen] == lab).sum())} after dedup and balancing)"])

    folder = cfg.folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, atomic_path(folder) as staging:
        staging.mkdir()
        lines = Path(tmp) / "train.txt"
        with open(lines, "w", encoding="utf-8") as f:
            for i in train_rows:
                f.write(f"__label__{labels[i]} {texts[i]}\n")
        _fit(lines, cfg, staging / "model.bin")
        label_list = sorted(set(labels))
        card = _card(cfg, reads, labels, keep, chosen, train_rows, test_rows, label_list, staging / "model.bin")
        cards.write(staging, {**card, "heldout": {}})  # a card for the scorer to read; metrics follow
        scorer = QualityModel(str(staging / "model.bin"))
        scores, probs, _ = scorer.score(pa.array([texts[i] for i in test_rows], pa.large_string()))
        y = scorer.weights[[label_list.index(lab) for lab in labels[test_rows]]] > 0.5
        card["heldout"] = cards.metrics(y, np.nan_to_num(scores), label_list, list(labels[test_rows]), probs)
        cards.write(staging, card)
        shutil.rmtree(folder, ignore_errors=True)  # a model trained before: replaced as the block ends
    log.info("quality model %s: held-out ROC-AUC %s", folder, card["heldout"]["roc_auc"])
    return folder


def _check_labels(cfg: TrainConfig, path: str, labels: np.ndarray) -> None:
    found = sorted(set(labels))
    if len(found) < 2:
        raise ConfigError([f"{path}: the sources give {len(found)} label(s) ({', '.join(found) or 'no documents'}); "
                           "a classifier needs at least two"])
    named = cfg.positive or list(cfg.values or {})
    missing = sorted(set(named) - set(found))
    if missing:
        raise ConfigError([f"{path}: {', '.join(missing)} named in positive/values but no document has that label "
                           f"(labels found: {', '.join(found)})"])
    if cfg.values is not None and set(found) - set(cfg.values):
        raise ConfigError([f"{path}: values gives no value for label(s) {', '.join(sorted(set(found) - set(cfg.values)))}"])
    if cfg.positive is not None and not set(found) - set(cfg.positive):
        raise ConfigError([f"{path}: every label is positive; leave at least one out of `positive`"])


def _balanced(labels: np.ndarray, keep: np.ndarray, order: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """The rows used: per label, the first `n` by the seeded hash order (n: the rarest label's count
    when balancing, capped by max_per_label)."""
    groups = {lab: np.flatnonzero(keep & (labels == lab)) for lab in sorted(set(labels[keep]))}
    n = min(len(g) for g in groups.values()) if cfg.balance else max(len(g) for g in groups.values())
    n = min(n, cfg.max_per_label or n)
    picked = [g[np.argsort(order[g], kind="stable")][:n] for g in groups.values()]
    return np.sort(np.concatenate(picked))


def _fit(lines: Path, cfg: TrainConfig, model_path: Path) -> None:
    """Trains in a fresh process: in one that has parsed some HTML pages (resiliparse, charset
    detection), fastText 0.9.2's training was seen to stop at once with "Encountered NaN"."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        pool.apply(_fit_here, (str(lines), cfg.seed, cfg.fasttext.model_dump(exclude_none=True), str(model_path)))


def _fit_here(lines: str, seed: int, params: dict, model_path: str) -> None:
    import fasttext

    fasttext.train_supervised(input=lines, thread=1, seed=seed, verbose=0, **params).save_model(model_path)


def _card(cfg, reads, labels, keep, chosen, train_rows, test_rows, label_list, model_path: Path) -> dict:
    used = np.zeros(len(labels), dtype=bool)
    used[chosen] = True
    sources, start = [], 0
    for r in reads:
        span = slice(start, start + len(r.ids))
        start += len(r.ids)
        sources.append({"name": r.source.name, "label": r.source.label or f"column {r.source.label_field}",
                        "read": len(r.ids), "duplicates_dropped": int((~keep[span]).sum()), "docs": int(used[span].sum()),
                        "skipped": r.skipped, "files": r.files, "input": r.source.input, "steps": r.source.steps})
    blob = model_path.read_bytes()
    return {
        "format": "gristmill-quality-card/1", "name": cfg.name,
        "model": {"file": "model.bin", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
        "labels": label_list,
        "score": {"positive": cfg.positive} if cfg.positive is not None else {"values": cfg.values},
        "normalization": norm.description(cfg.max_chars),
        "params": {"fasttext": cfg.fasttext.model_dump(exclude_none=True), "thread": 1, "balance": cfg.balance,
                   "max_per_label": cfg.max_per_label, "dedup": cfg.dedup, "heldout": cfg.heldout,
                   "split": "xxh3_64(id) < heldout * 2^64"},
        "seed": cfg.seed,
        "software": {"gristmill": _version("gristmill"), "fasttext": _version("fasttext-numpy2-wheel")},
        "sources": sources,
        "split": {lab: {"train": int((labels[train_rows] == lab).sum()), "heldout": int((labels[test_rows] == lab).sum())}
                  for lab in label_list},
        "notes": cfg.notes,
    }


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
