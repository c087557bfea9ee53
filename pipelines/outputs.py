"""`gristmill inspect`: what a curation run, a tokenize output or a training run holds, read from the
files each writes (manifest.json, meta.json, summary.json and metrics.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from provenance.yamlfile import ConfigError


def inspect_output(folder: Path, rows: int) -> int:
    """A curation run (manifest.json), a tokenize output (meta.json) or a training run (summary.json)."""
    if (folder / "manifest.json").exists():
        return _inspect_run(folder, rows)
    if (folder / "meta.json").exists():
        return _inspect_tokens(folder)
    if (folder / "summary.json").exists() or (folder / "metrics.jsonl").exists():
        return _inspect_training(folder)
    raise ConfigError([f"{folder}: no manifest.json (curation), meta.json (tokenize) or summary.json (train) here; "
                       "is it a finished gristmill output?"])


def _inspect_run(folder: Path, rows: int) -> int:
    import polars as pl

    from provenance.manifest import RunManifest

    manifest = RunManifest.load(folder / "manifest.json")
    shards = [folder / s.name for s in manifest.output.shards]
    out = Console()
    out.print(f"[bold]{manifest.name}[/bold]  config {manifest.config_hash[:12]}  "
              f"{manifest.output.docs:,} docs in {len(shards)} shard(s)", highlight=False)
    if not shards:
        return 0
    if manifest.output.format == "parquet":
        frame = pl.scan_parquet(shards)
    else:
        frame = pl.concat([pl.read_ndjson(s).lazy() for s in shards], how="vertical_relaxed")
    schema = frame.collect_schema()
    out.print("columns: " + ", ".join(f"{k}: {v}" for k, v in schema.items()), highlight=False)
    by_source = frame.group_by("source").agg(pl.len().alias("docs"),
                                             pl.col("text").str.len_bytes().sum().alias("bytes")).sort("source")
    out.print(by_source.collect())
    for row in frame.head(rows).select("id", "source", "text").collect().iter_rows(named=True):
        text = row["text"][:200].replace("\n", " ")
        out.print(f"- {row['id']} [{row['source']}] {text}…", highlight=False)
    return 0


def _inspect_tokens(folder: Path) -> int:
    meta = json.loads((folder / "meta.json").read_text())
    out = Console(highlight=False)
    out.print(f"[bold]tokens[/bold] {folder}: vocabulary {meta['vocab_size']:,}, {meta['dtype']}, "
              f"{len(meta.get('files', []))} input file(s)")
    out.print(f"{'source':<28} {'train tokens':>14} {'val tokens':>12} {'docs':>9} {'MB':>9}", style="dim")
    for source, entry in meta["sources"].items():
        train, val = entry.get("train", {}), entry.get("val", {})
        docs = train.get("docs", 0) + val.get("docs", 0)
        size = (train.get("bytes", 0) + val.get("bytes", 0)) / 1e6
        out.print(f"{source:<28} {train.get('tokens', 0):>14,} {val.get('tokens', 0):>12,} {docs:>9,} {size:>9.2f}")
    for run in meta.get("curated_runs", []):
        out.print(f"from curated run {run['name']} ({run['manifest']}, sha256 {run['sha256'][:12]})")
    return 0


def _inspect_training(folder: Path) -> int:
    out = Console(highlight=False)
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
    losses = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()
              if '"loss"' in line] if (folder / "metrics.jsonl").exists() else []
    last = next((m for m in reversed(losses) if "loss" in m), None)
    state = "finished" if summary else "not finished"
    out.print(f"[bold]training[/bold] {folder} ({state}): {summary.get('steps', last['step'] if last else 0):,} steps, "
              f"{summary.get('tokens', 0):,} tokens" + (f"; last loss {last['loss']:.4f} at step {last['step']}"
                                                         if last else ""))
    for source, val in summary.get("val", {}).items():
        out.print(f"  validation {source}: loss {val['loss']:.4f}, {val['bpb']:.4f} bits per byte")
    checkpoints = sorted(p.name for p in (folder / "checkpoints").glob("step-*")) if (folder / "checkpoints").exists() else []
    out.print(f"checkpoints: {', '.join(checkpoints) or 'none'}")
    for stage in summary.get("inputs", []):
        out.print(f"stage {stage.get('stage')}: tokens {stage.get('tokens', {}).get('path')}, "
                  f"mixture {(stage.get('mixture') or {}).get('path', 'inline')}")
    return 0
