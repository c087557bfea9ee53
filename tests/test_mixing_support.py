"""Shared by the mixing tests: a token-shard meta.json, a mix YAML writer, and a fake trainer whose
per-domain losses follow a known log-linear law (so a fit can be checked against the truth)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml

DOMAINS = ["web/wiki", "news/abc", "books/pg", "code/py"]
TOKENS = [4_000_000, 2_000_000, 1_000_000, 500_000]

# The true law: loss_d(w) = C[d] + exp(T[d] . w); each domain's loss falls with its own weight and a
# little with its neighbours', so the best mixture for the mean loss is inside the simplex.
C = np.array([2.0, 2.5, 3.0, 1.5])
T = np.array([[-2.0, 0.2, 0.3, 0.4],
              [-0.2, -1.5, 0.1, 0.3],
              [0.1, 0.2, -2.5, 0.3],
              [0.3, 0.1, 0.2, -3.0]]) + 0.5


def true_losses(weights: np.ndarray) -> np.ndarray:
    """(runs, domains) losses of the true law for (runs, domains) weights."""
    return C + np.exp(np.atleast_2d(weights) @ T.T)


def write_meta(root: Path, names=DOMAINS, tokens=TOKENS) -> Path:
    sources = {n: {"dir": n, "train": {"tokens": t, "docs": t // 500, "bytes": t * 4},
                   "val": {"tokens": t // 100, "docs": t // 50_000, "bytes": t // 25}} for n, t in zip(names, tokens)}
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta.json").write_text(json.dumps({"vocab_size": 512, "dtype": "uint16", "eos_id": 0,
                                                "config_hash": "test", "sources": sources}))
    return root


def write_config(tmp_path: Path, **changes) -> Path:
    """A small mix YAML over the test shards; `changes` replace top-level keys (None deletes one)."""
    tokens = write_meta(tmp_path / "tokens")
    config = {"name": "test", "out": str(tmp_path / "mix"), "tokens": str(tokens),
              "target": {"tokens": 10_000_000, "model": {"size": "small"}, "seq_len": 512},
              "caps": {"max_epochs": 4, "max_weight": 0.7},
              "sweep": {"proxies": 24, "concentrations": [1.0, 4.0], "parallel": 1,
                        "proxy": {"tokens": 100_000, "model": {"size": "tiny"}, "seq_len": 64}},
              "validate": {"random": 3}}
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def fake_train(config: dict, out_dir: Path):
    """Stands in for train.api.train: reads the stage's mixture file, answers with the true law
    plus a little noise fixed by the mixture and the seeds, and leaves a file so calls can be counted."""
    mixture = yaml.safe_load(Path(config["stages"][0]["mixture"]).read_text())
    names = list(mixture["weights"])
    w = np.array([mixture["weights"][n] for n in names])
    key = (*np.round(w, 6), mixture["seed"], config.get("seed", 0))
    noise = np.random.default_rng(abs(hash(key)) % 2**32).normal(0, 0.002, len(names))
    losses = true_losses(w)[0] + noise
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "trained").write_text("1")
    tokens = config["stages"][0]["tokens"]
    return SimpleNamespace(val={n: {"loss": float(v), "bpb": float(v) / np.log(2) / 4} for n, v in zip(names, losses)},
                           tokens=tokens, flops=6.0 * 1e5 * tokens)


def trained_count(run_dir: Path) -> int:
    return len(list(run_dir.glob("**/train/trained")))
