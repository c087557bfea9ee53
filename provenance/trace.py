"""`gristmill trace RUN_DIR ID`: where one document of a curation run came from and what the run did
to it. A kept document is found in the output shards: its origin (file, line or record and byte
offset, record id, fetch date), the columns steps added to it (which step added each) and its licence
evidence. A removed one is found in dropped/ (every removed document's id, step, reason, source and
origin, across all workers and stages). Neither: the run never read it as a document."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError

CORE = ("id", "text", "source", "url", "origin")


def trace(run_dir: str | Path, doc_id: str) -> list[str]:
    """Lines that answer "what happened to document `doc_id` in this run?"."""
    run = Path(run_dir)
    if not (run / "manifest.json").is_file():
        raise ConfigError([f"{run}: not a finished gristmill run (no manifest.json)"])
    manifest = RunManifest.load(run / "manifest.json")
    kept = _find(run, manifest.output.format, doc_id)
    if kept is not None:
        lines = [f"{doc_id}: kept in {run} ({kept.pop('_file')}), source {kept['source']}"]
        lines += _origin(kept["origin"])
        if kept.get("url"):
            lines.append(f"  url: {kept['url']}")
        added = _added_by(manifest)
        for column, value in kept.items():
            if column not in CORE and value is not None:
                lines.append(f"  {column}: {_short(value)}" + (f"  (added by {added[column]})" if column in added else ""))
        lines.append(f"  passed: {', '.join(s.step for s in manifest.steps) or 'no steps'}")
        lines.append(f"  text: {_short(kept['text'])}")
        return lines
    dropped = sorted((run / "dropped").glob("*.parquet"))
    hit = pl.scan_parquet(dropped).filter(pl.col("id") == doc_id).collect() if dropped else pl.DataFrame()
    if hit.height:
        row = hit.row(0, named=True)
        return [f"{doc_id}: removed by {row['step']} ({row['reason']}), source {row['source']}", *_origin(row["origin"])]
    skipped = ", ".join(f"{n} {k}" for k, n in manifest.read.skipped.items()) or "none"
    return [f"{doc_id}: not a document of this run: it read {manifest.read.docs} documents from "
            f"{len(manifest.inputs)} input file(s) (records skipped before they became documents: {skipped})"]


def _find(run: Path, fmt: str, doc_id: str) -> dict | None:
    for path in sorted(run.glob(f"part-*.{'parquet' if fmt == 'parquet' else 'jsonl*'}")):
        frame = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_ndjson(path)
        hit = frame.filter(pl.col("id") == doc_id).collect()
        if hit.height:
            return {**hit.row(0, named=True), "_file": path.name}
    return None


def _origin(origin: dict | None) -> list[str]:
    if not origin:
        return ["  origin: not recorded"]
    where = origin["file"]
    if origin.get("row") is not None:
        where += f", row/line {origin['row']}"
    if origin.get("offset") is not None:
        where += f", byte offset {origin['offset']}"
    lines = [f"  read from: {where}"]
    if origin.get("record_id"):
        lines.append(f"  record: {origin['record_id']}")
    if origin.get("date"):
        lines.append(f"  fetched: {origin['date']}")
    return lines


def _added_by(manifest: RunManifest) -> dict[str, str]:
    """Column -> the label of the step that adds it, from the steps the run's config names."""
    from curate.engine.step import get_step

    added = {}
    for i, entry in enumerate(manifest.config.get("steps", [])):
        name = next(iter(entry)) if isinstance(entry, dict) else str(entry)
        try:
            cls = get_step(name)
        except KeyError:
            continue
        for column in cls.adds:
            added[column] = f"{i}:{name}"
    return added


def _short(value, width: int = 200) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"
