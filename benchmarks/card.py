"""Data-card figure: seconds for `build_card` on a 1M-document curation run, beside the floor of only
scanning the shard columns the card reads (polars, same files, same run).

The run is synthesized from a real one: the bundled news sample goes through a small pipeline (filters,
exact and near-duplicate dedup, PII, contamination) for a real manifest, rejected samples and output
schema; its output rows are then repeated to --docs rows (ids made unique, texts cut to --chars,
languages, quality scores, licences and opt-out flags drawn with a fixed seed) across --shards shards,
and the manifest's counts are scaled to match. The card reads the manifest, reports and shards exactly
as it would for a real run of that size.

Run: .venv/bin/python benchmarks/card.py [--docs 1000000] [--shards 8] [--chars 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.cli import main  # noqa: E402
from provenance.card import build_card  # noqa: E402


def real_run(tmp: Path) -> Path:
    cfg = {"name": "bench-card", "input": {"reader": "jsonl", "paths": [str(ROOT / "data/sample/news-abc.jsonl.gz")],
                                          "source_field": "source"},
           "steps": [{"normalize.unicode": {}}, {"filter.length": {"min_words": 50}}, {"dedup.exact": {}},
                     {"dedup.minhash": {"threshold": 0.8}}, {"pii.redact": {}},
                     {"decontam.ngram": {"benchmarks": ["humaneval"]}}],
           "output": {"path": str(tmp / "small"), "keep_rejected": 20}, "executor": {"kind": "local", "workers": 2}}
    (tmp / "p.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp / "p.yaml")]) == 0
    return tmp / "small"


def scale(small: Path, big: Path, docs: int, shards: int, chars: int) -> None:
    big.mkdir()
    base = pl.read_parquet(sorted(small.glob("part-*.parquet"))).with_columns(pl.col("text").str.slice(0, chars))
    rng = np.random.default_rng(0)
    sources = ["web/cc-2024-10", "web/wikipedia", "news/abc", "books/gutenberg", "code/python", "legal/debian"]
    m = json.loads((small / "manifest.json").read_text())
    factor = docs / max(m["output"]["docs"], 1)
    per = docs // shards
    m["output"]["shards"] = []
    for k in range(shards):
        n = per if k < shards - 1 else docs - per * (shards - 1)
        idx = np.arange(n) % base.height
        df = base[idx].with_columns(
            id=pl.Series([f"{k}-{i}" for i in range(n)]),
            source=pl.Series(np.array(sources)[rng.integers(0, len(sources), n)]),
            url=pl.Series([f"https://site{j}.example/{i}" for i, j in enumerate(rng.zipf(1.3, n) % 50000)]),
            lang=pl.Series(np.array(["en", "de", "fr", "es", "und"])[rng.integers(0, 5, n)]),
            quality_score=pl.Series(rng.beta(2, 2, n).astype(np.float32)),
            license=pl.Series(np.array(["CC-BY-4.0", "unknown", "MIT", "CC-BY-SA-4.0"])[rng.integers(0, 4, n)]),
            license_evidence=pl.Series([("rel_license: link" if x else None) for x in rng.random(n) < 0.3],
                                       dtype=pl.String),
            tdm_opt_out=pl.Series([("robots_txt=GPTBot" if x else None) for x in rng.random(n) < 0.01],
                                  dtype=pl.String))
        name = f"part-{k:05d}-0000.parquet"
        df.write_parquet(big / name)
        m["output"]["shards"].append({"name": name, "rows": n, "bytes": (big / name).stat().st_size})
    m["output"]["columns"].update({"lang": "string", "quality_score": "float", "license": "string",
                                   "license_evidence": "string", "tdm_opt_out": "string"})
    for rec in [m["read"], m["output"], *m["steps"]]:
        for key in ("docs", "bytes", "docs_in", "docs_out", "bytes_in", "bytes_out"):
            if key in rec:
                rec[key] = round(rec[key] * factor)
        for group in ("removed", "counters"):
            if group in rec:
                rec[group] = {k: round(v * factor) for k, v in rec[group].items()}
    m["output"]["docs"] = docs
    (big / "manifest.json").write_text(json.dumps(m))
    for sub in ("rejected", "reports"):
        if (small / sub).is_dir():
            (big / sub).symlink_to(small / sub)


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--chars", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        scale(real_run(tmp), tmp / "big", args.docs, args.shards, args.chars)
        made = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (tmp / "big").glob("*.parquet"))
        t = time.perf_counter()
        cols = ["source", "text", "lang", "quality_score", "dup_cluster_size", "license", "license_evidence",
                "tdm_opt_out", "pii", "contamination", "url"]
        pl.scan_parquet(str(tmp / "big/*.parquet")).select(cols).collect()
        floor = time.perf_counter() - t
        t = time.perf_counter()
        build_card([tmp / "big"], tmp / "card")
        took = time.perf_counter() - t
        html = (tmp / "card/card.html").stat().st_size
    print(f"synthesized {args.docs:,} documents in {args.shards} shards ({size / 1e6:.0f} MB Parquet) in {made:.1f} s")
    print(f"{'':<34}{'seconds':>10}")
    print(f"{'gristmill card (build_card)':<34}{took:>10.2f}   card.html {html / 1e3:.0f} KB")
    print(f"{'floor: polars scan of its columns':<34}{floor:>10.2f}")


if __name__ == "__main__":
    main_()
