"""The mixture loader: token shards + source weights -> a fixed, seeded sequence of training samples.

Each source's shards are one token stream (documents already end in EOS), cut into windows of
seq_len + 1 tokens. At start-up the whole run's sample list is built once: every source gets its
share of windows (weights count tokens, since every window holds seq_len of them), drawn epoch by
epoch in a seeded permutation, and the sources are interleaved by a seeded shuffle. Sample i of
the run is then fixed, so the state of the loader is one step counter, and resuming is exact for
any number of ranks: rank r of W takes its slice of each step's global batch.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from provenance.yamlfile import ConfigError, Strict


class MixtureConfig(Strict):
    tokens: str  # a directory written by `gristmill tokenize`
    weights: dict[str, float] = Field(min_length=1)  # shares of tokens; normalised
    seed: int = 0
    max_epochs: float | dict[str, float] = 4.0  # per source, or one cap for all


def read_meta(tokens_dir: str | Path) -> dict:
    path = Path(tokens_dir) / "meta.json"
    if not path.is_file():
        raise ConfigError([f"tokens: {tokens_dir} has no meta.json; run `gristmill tokenize` first"])
    return json.loads(path.read_text())


class TokenStream:
    """One split of one source: its part files read as a single array of token ids."""

    def __init__(self, folder: Path, dtype: str):
        self.parts = [np.memmap(p, dtype=dtype, mode="r") for p in sorted(folder.glob("part-*.bin"))]
        self.parts = [p for p in self.parts if len(p)]
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.n_tokens = int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        out, pos = [], start
        while length > 0:
            part = int(np.searchsorted(self.starts, pos, side="right")) - 1
            offset = pos - int(self.starts[part])
            piece = self.parts[part][offset: offset + length]
            out.append(piece)
            pos, length = pos + len(piece), length - len(piece)
        return np.concatenate(out) if len(out) > 1 else np.asarray(out[0])

    def windows(self, seq_len: int) -> int:
        """Windows of seq_len + 1 tokens that start every seq_len tokens."""
        return max(0, (self.n_tokens - 1) // seq_len)


def split_counts(weights: np.ndarray, total: int) -> np.ndarray:
    """`total` samples shared by weight, rounding by largest remainder (so they sum to total)."""
    exact = weights * total
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


class MixtureIndex:
    """Which window of which source is sample i, for every sample of one training stage."""

    def __init__(self, mix: MixtureConfig, seq_len: int, n_samples: int, split: str = "train"):
        self.meta = read_meta(mix.tokens)
        unknown = sorted(set(mix.weights) - set(self.meta["sources"]))
        if unknown:
            raise ConfigError([f"weights: {', '.join(unknown)} not in {mix.tokens} "
                               f"(sources: {', '.join(self.meta['sources'])})"])
        self.sources = sorted(s for s, w in mix.weights.items() if w > 0)
        if not self.sources:
            raise ConfigError(["weights: every weight is zero"])
        if any(w < 0 for w in mix.weights.values()):
            raise ConfigError(["weights: a weight is negative"])
        self.seq_len, self.n_samples = seq_len, n_samples
        root = Path(mix.tokens)
        self.streams = [TokenStream(root / self.meta["sources"][s]["dir"] / split, self.meta["dtype"])
                        for s in self.sources]
        w = np.array([mix.weights[s] for s in self.sources], dtype=np.float64)
        self.weights = w / w.sum()
        self.counts = split_counts(self.weights, n_samples)
        available = np.array([s.windows(seq_len) for s in self.streams])
        self.epochs = self.counts / np.maximum(available, 1)
        self._check_caps(mix, available)

        rng = np.random.default_rng(mix.seed)
        self.source_of = np.repeat(np.arange(len(self.sources), dtype=np.int16), self.counts)
        rng.shuffle(self.source_of)
        self.window_of = np.empty(n_samples, dtype=np.int64)
        for k, count in enumerate(self.counts):
            epochs = -(-count // available[k]) if count else 0
            order = np.concatenate([rng.permutation(available[k]) for _ in range(epochs)] or [np.empty(0, np.int64)])
            self.window_of[self.source_of == k] = order[:count]
        self.fingerprint = hashlib.sha256(json.dumps({
            "sources": {s: st.n_tokens for s, st in zip(self.sources, self.streams)},
            "weights": self.weights.round(12).tolist(), "seed": mix.seed, "seq_len": seq_len,
            "n_samples": n_samples, "tokenizer": self.meta["config_hash"]}).encode()).hexdigest()[:16]

    def _check_caps(self, mix: MixtureConfig, available: np.ndarray) -> None:
        caps = mix.max_epochs if isinstance(mix.max_epochs, dict) else {}
        default = mix.max_epochs if not isinstance(mix.max_epochs, dict) else 4.0
        problems = []
        for k, (s, count, have, ep) in enumerate(zip(self.sources, self.counts, available, self.epochs)):
            cap = caps.get(s, default)
            if count and have == 0:
                problems.append(f"{s}: needs {count} windows of {self.seq_len + 1} tokens but has none "
                                f"({self.streams[k].n_tokens} tokens)")
            elif ep > cap:
                problems.append(f"{s}: weight {self.weights[k]:.4f} asks for {count * self.seq_len:,} tokens = "
                                f"{ep:.2f} epochs of its {have * self.seq_len:,}, over the cap of {cap:g}")
        if problems:
            raise ConfigError(["max_epochs: this mixture would repeat sources more than allowed:"] + problems)

    def sample(self, i: int) -> np.ndarray:
        stream = self.streams[self.source_of[i]]
        return stream.read(int(self.window_of[i]) * self.seq_len, self.seq_len + 1)

    def plan(self) -> dict[str, dict]:
        """Tokens and epochs per source this index will deliver."""
        return {s: {"weight": float(w), "tokens": int(c) * self.seq_len, "epochs": float(e)}
                for s, w, c, e in zip(self.sources, self.weights, self.counts, self.epochs)}


class MixtureLoader:
    """Batches of (inputs, targets) for one rank: step t, micro-step m -> a fixed slice of samples."""

    def __init__(self, index: MixtureIndex, micro_batch: int, grad_accum: int, rank: int, world: int):
        self.index, self.micro_batch, self.grad_accum = index, micro_batch, grad_accum
        self.rank, self.world = rank, world
        self.global_batch = micro_batch * grad_accum * world

    @property
    def steps(self) -> int:
        return self.index.n_samples // self.global_batch

    def batch(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        first = step * self.global_batch + (micro * self.world + self.rank) * self.micro_batch
        rows = np.stack([self.index.sample(i) for i in range(first, first + self.micro_batch)]).astype(np.int64)
        sources = self.index.source_of[first: first + self.micro_batch]
        tokens = torch.from_numpy(rows)
        return tokens[:, :-1], tokens[:, 1:], sources


@functools.cache  # evaluation asks for the same windows every `eval.every` steps
def validation_windows(tokens_dir: str | Path, source: str, seq_len: int, max_tokens: int) -> np.ndarray:
    """The first held-out windows of a source, up to `max_tokens` (shape (n, seq_len + 1))."""
    meta = read_meta(tokens_dir)
    stream = TokenStream(Path(tokens_dir) / meta["sources"][source]["dir"] / "val", meta["dtype"])
    n = min(stream.windows(seq_len), max(1, max_tokens // seq_len))
    if n == 0:
        return np.empty((0, seq_len + 1), dtype=np.int64)
    return np.stack([stream.read(i * seq_len, seq_len + 1) for i in range(n)]).astype(np.int64)
