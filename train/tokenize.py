"""`gristmill tokenize`: curated Parquet documents -> per-source token shards the trainer reads.

Output layout (OUT = `output`):
  OUT/tokenizer/                           transformers-compatible tokenizer (trained here or copied)
  OUT/<source>/{train,val}/part-NNNNN.bin  token ids, every document followed by EOS
  OUT/<source>/{train,val}/part-NNNNN.idx  .npy int64: end offset of each document in the .bin
  OUT/meta.json                            vocabulary, dtype, EOS id, per-source token/doc/byte counts,
                                           and where the inputs came from (below)

One task per input file (part NNNNN = the file's position in sorted order), run by the executor the
caller passes (`gristmill tokenize`: curation's local executor with `workers` processes; `train`
imports nothing of `curate`, so any object with the `Executor.run` below will do). A task's marker,
OUT/_work/NNNNN.json, is written when its shards are complete, so a rerun does only what is missing
and the result does not depend on the number of workers. Documents go to `val` by a hash of their
id, so the split is stable when inputs are added; a source that gets no held-out document from a
file gives its last one there (if it has two), so small sources still get a validation loss.

Provenance: meta.json lists every input file with its size and sha256, and the curation run it came
from: the `manifest.json` in the input file's own folder (where a curation run writes its shards), or
null where that folder has none; parent folders are not searched. Each distinct manifest is listed
once under `curated_runs` with its sha256 and the run's `name` and `config_hash`, so a data card can
walk from a trained model (train's summary.json names this meta.json's sha256) back to the raw inputs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from provenance.files import atomic_path, file_sha256, write_atomic
from provenance.yamlfile import ConfigError, Strict

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"


class TokenizerConfig(Strict):
    path: str | None = None  # a local tokenizer directory; else one is trained on a sample
    vocab_size: int = Field(default=32000, gt=256)
    sample_mb: float = Field(default=64, gt=0)  # text the BPE trainer sees, drawn across all inputs


class TokenizeConfig(Strict):
    inputs: list[str] = Field(min_length=1)  # Parquet files or globs (a curation run's output)
    output: str
    tokenizer: TokenizerConfig = TokenizerConfig()
    source_field: str = "source"
    text_field: str = "text"
    id_field: str = "id"
    validation_fraction: float = Field(default=0.01, ge=0, lt=1)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)  # the CLI executor's processes
    batch_rows: int = Field(default=1024, gt=0)


def input_files(cfg: TokenizeConfig) -> list[str]:
    files, errors = [], []
    for pattern in cfg.inputs:
        found = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        found = [f for f in found if Path(f).is_file()]
        if not found:
            errors.append(f"inputs: {pattern!r} matches no file")
        files += found
    if errors:
        raise ConfigError(errors)
    for f in files:
        names = pq.read_schema(f).names
        missing = [c for c in (cfg.text_field, cfg.source_field) if c not in names]
        if missing:
            raise ConfigError([f"{f}: no column {', '.join(missing)} (columns: {', '.join(names)})"])
    return list(dict.fromkeys(files))


def source_dir(source: str) -> str:
    """A source name as a relative path: `web/cc-2024` stays nested, anything odd becomes `_`."""
    parts = ["".join(c if c.isalnum() or c in "-_." else "_" for c in p) for p in source.split("/")]
    parts = [p for p in parts if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"source name {source!r} has no usable characters")
    return "/".join(parts)


# --- the tokenizer ---------------------------------------------------------------------------


def sample_texts(files: list[str], cfg: TokenizeConfig):
    """About `sample_mb` of text spread over all files: each row group kept with the same
    probability (decided by a hash of file and group, so the sample is reproducible)."""
    sizes = {}
    for f in files:
        meta = pq.ParquetFile(f).metadata
        col = meta.schema.names.index(cfg.text_field)
        for g in range(meta.num_row_groups):
            sizes[(f, g)] = meta.row_group(g).column(col).total_uncompressed_size
    rate = min(1.0, cfg.tokenizer.sample_mb * 2**20 / max(1, sum(sizes.values())))
    for (f, g), _ in sizes.items():
        if xxhash.xxh64_intdigest(f"{Path(f).name}:{g}") / 2**64 < rate or rate == 1.0:
            table = pq.ParquetFile(f).read_row_group(g, columns=[cfg.text_field])
            yield [t for t in table.column(0).to_pylist() if t]


def train_tokenizer(files: list[str], cfg: TokenizeConfig, out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=cfg.tokenizer.vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sample_texts(files, cfg), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS)
    fast.save_pretrained(out)


def load_tokenizer(path: str | Path):
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise ConfigError([f"tokenizer.path: {path} has no tokenizer.json"])
    tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    if tok.eos_token_id is None:
        raise ConfigError([f"tokenizer.path: {path}: the tokenizer has no EOS token to separate documents"])
    return tok


# --- one task: one input file ---------------------------------------------------------------


def is_validation(doc_id: str, fraction: float) -> bool:
    return fraction > 0 and xxhash.xxh64_intdigest(doc_id) / 2**64 < fraction


def tokenize_file(index: int, path: str, cfg: TokenizeConfig, out: Path, dtype: str) -> dict:
    """Write this file's shards for every (source, split) it holds; return the file's size and sha256
    and the shards' counts (its task's marker)."""
    tok = load_tokenizer(out / "tokenizer")
    eos = tok.eos_token_id
    columns = [cfg.text_field, cfg.source_field] + ([cfg.id_field] if cfg.id_field in pq.read_schema(path).names else [])
    docs_of: dict[tuple[str, str], list[tuple[np.ndarray, int]]] = {}  # (source, split) -> (tokens, UTF-8 bytes)
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=cfg.batch_rows, columns=columns):
        data = batch.to_pydict()
        ids = data.get(cfg.id_field) or [f"{Path(path).name}:{row + i}" for i in range(batch.num_rows)]
        sizes = pc.binary_length(batch.column(cfg.text_field)).to_pylist()
        row += batch.num_rows
        keep = [i for i, t in enumerate(data[cfg.text_field]) if t]
        encoded = tok([data[cfg.text_field][i] for i in keep], add_special_tokens=False)["input_ids"]
        for i, tokens in zip(keep, encoded):
            split = "val" if is_validation(str(ids[i]), cfg.validation_fraction) else "train"
            key = (data[cfg.source_field][i] or "unknown", split)
            docs_of.setdefault(key, []).append((np.asarray(tokens + [eos], dtype=dtype), sizes[i]))
    for source, _ in list(docs_of):  # a source with no held-out document here gives its last one, if it has two
        train = docs_of.get((source, "train"), [])
        if cfg.validation_fraction > 0 and (source, "val") not in docs_of and len(train) >= 2:
            docs_of[(source, "val")] = [train.pop()]
    stats: dict[str, dict] = {}
    for (source, split), docs in docs_of.items():
        stats.setdefault(source, {})[split] = {"tokens": sum(len(t) for t, _ in docs), "docs": len(docs),
                                               "bytes": sum(b for _, b in docs)}
    for (source, split), docs in docs_of.items():
        folder = out / source_dir(source) / split
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"part-{index:05d}"
        tokens = np.concatenate([t for t, _ in docs])
        ends = np.cumsum([len(t) for t, _ in docs], dtype=np.int64)
        with atomic_path(f"{stem}.bin") as tmp:
            tokens.tofile(tmp)
        with atomic_path(f"{stem}.idx") as tmp, open(tmp, "wb") as fh:
            np.save(fh, ends)  # to a handle: given a path, np.save would add `.npy`
    return {"file": path, "bytes": os.path.getsize(path), "sha256": file_sha256(path), "sources": stats}


@dataclass(frozen=True)
class TokenizeFile:
    """The task of one input file: picklable, so the executor can run it in a worker process."""

    index: int
    path: str
    cfg: TokenizeConfig
    out: Path
    dtype: str

    @property
    def marker(self) -> Path:
        return self.out / "_work" / f"{self.index:05d}.json"

    def __call__(self) -> dict:
        return tokenize_file(self.index, self.path, self.cfg, self.out, self.dtype)


# --- the run ---------------------------------------------------------------------------------


class Executor(Protocol):
    """Runs every task that has no marker yet (calling a task does its work and returns what its
    marker holds) and returns all the tasks' markers in task order; `docs(marker)` counts documents
    for its progress line."""

    def run(self, title: str, tasks: list, docs: Callable[[dict], int] = ...) -> list[dict]: ...


def config_hash(cfg: TokenizeConfig, files: list[str]) -> str:
    keyed = cfg.model_dump(exclude={"workers", "batch_rows", "output"})
    keyed["files"] = [(f, os.path.getsize(f)) for f in files]
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


def curated_run(path: str) -> str | None:
    """The manifest.json of the curation run that wrote this input: the one in its own folder, if any."""
    manifest = Path(path).parent / "manifest.json"
    return str(manifest) if manifest.is_file() else None


def manifest_record(manifest: str) -> dict:
    data = Path(manifest).read_bytes()
    run = json.loads(data)
    return {"manifest": manifest, "sha256": hashlib.sha256(data).hexdigest(), "name": run.get("name"),
            "config_hash": run.get("config_hash")}


def tokenize(cfg: TokenizeConfig, executor: Executor, overwrite: bool = False, progress=print) -> dict:
    files = input_files(cfg)
    out = Path(cfg.output)
    digest = config_hash(cfg, files)
    done, partial = out / "meta.json", out / "_work" / "config"
    previous = (json.loads(done.read_text())["config_hash"] if done.exists()
                else partial.read_text() if partial.exists() else None)
    if previous == digest and done.exists():
        progress(f"{out}: already tokenized with this config")
        return json.loads(done.read_text())
    if previous not in (None, digest):
        if not overwrite:
            raise ConfigError([f"output: {out} holds tokens of another config; pass --overwrite to replace them"])
        shutil.rmtree(out)
    (out / "_work").mkdir(parents=True, exist_ok=True)
    (out / "_work" / "config").write_text(digest)

    if not (out / "tokenizer" / "tokenizer.json").exists():
        with atomic_path(out / "tokenizer") as tmp:
            if cfg.tokenizer.path:
                load_tokenizer(cfg.tokenizer.path)
                shutil.copytree(cfg.tokenizer.path, tmp)
            else:
                progress(f"training a {cfg.tokenizer.vocab_size}-token BPE tokenizer on ~{cfg.tokenizer.sample_mb:g} MB")
                train_tokenizer(files, cfg, tmp)
    tok = load_tokenizer(out / "tokenizer")
    dtype = "uint16" if len(tok) <= 2**16 else "uint32"

    tasks = [TokenizeFile(i, f, cfg, out, dtype) for i, f in enumerate(files)]
    progress(f"tokenizing {sum(not t.marker.exists() for t in tasks)} of {len(files)} files")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # set before the workers start: they are one per core already
    markers = executor.run("tokenize", tasks, docs=lambda m: sum(n["docs"] for s in m["sources"].values()
                                                                 for n in s.values()))
    sources: dict[str, dict] = {}
    inputs = []
    for f, done in zip(files, markers):
        inputs.append({"path": f, "bytes": done["bytes"], "sha256": done["sha256"], "manifest": curated_run(f)})
        for source, splits in done["sources"].items():
            entry = sources.setdefault(source, {"dir": source_dir(source)})
            for split in ("train", "val"):
                total = entry.setdefault(split, {"tokens": 0, "docs": 0, "bytes": 0})
                for k, v in splits.get(split, {}).items():
                    total[k] += v
    runs = dict.fromkeys(i["manifest"] for i in inputs if i["manifest"])
    meta = {"vocab_size": len(tok), "dtype": dtype, "eos_id": tok.eos_token_id, "config_hash": digest,
            "files": files, "sources": dict(sorted(sources.items())), "inputs": inputs,
            "curated_runs": [manifest_record(m) for m in runs]}
    write_atomic(out / "meta.json", json.dumps(meta, indent=2))
    shutil.rmtree(out / "_work")
    for source, entry in meta["sources"].items():
        progress(f"  {source}: {entry['train']['tokens']:,} train / {entry['val']['tokens']:,} val tokens")
    return meta
