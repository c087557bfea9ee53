"""Aggregates over a run's output shards for the card, each read lazily with polars (only the columns
it needs): bytes by source and language, quality-score histograms per source, duplicate-cluster sizes,
licences with their evidence, opt-out flags, documents with PII or contamination, kept examples.
A column the run did not write gives `None`; the card then says the capability was not used.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

BINS = 20  # quality-score histogram bins over [0, 1]
KEPT_EXAMPLES = 2  # per source
EXAMPLE_CHARS = 400
TOP_DOMAINS = 1000  # the most the EU template asks for (SMEs: top 1,000 domains)
OPT_OUT_HINTS = ("opt_out", "optout", "tdm")


def aggregates(shards: list[Path], fmt: str) -> dict:
    out: dict = {k: None for k in ("languages", "quality_histograms", "cluster_sizes", "licenses",
                                   "opt_out_column", "pii_docs", "contaminated_docs", "domains")}
    out["kept_examples"] = []
    if not shards or fmt != "parquet":
        return out
    lf = pl.scan_parquet([str(s) for s in shards])
    schema = lf.collect_schema()
    names = set(schema.names())
    if "source" not in names:
        return out
    src = pl.col("source").fill_null("(none)")
    if "lang" in names:
        out["languages"] = _nested(lf.group_by(src, pl.col("lang").fill_null("und"))
                                   .agg(docs=pl.len(), bytes=pl.col("text").str.len_bytes().sum())
                                   if "text" in names else
                                   lf.group_by(src, pl.col("lang").fill_null("und")).agg(docs=pl.len(), bytes=pl.lit(0)),
                                   "lang")
    if "quality_score" in names:
        b = (pl.col("quality_score").clip(0, 1) * BINS).floor().clip(0, BINS - 1).cast(pl.Int32).alias("bin")
        df = lf.filter(pl.col("quality_score").is_not_null()).group_by(src, b).agg(n=pl.len()).collect()
        hist: dict[str, list[int]] = {}
        for s, i, n in df.sort("source", "bin").iter_rows():
            hist.setdefault(s, [0] * BINS)[i] = n
        out["quality_histograms"] = {"edges": [i / BINS for i in range(BINS + 1)], "sources": hist}
    if "dup_cluster_size" in names:
        df = lf.group_by(pl.col("dup_cluster_size").fill_null(1)).agg(n=pl.len()).sort("dup_cluster_size").collect()
        out["cluster_sizes"] = {int(k): int(n) for k, n in df.iter_rows()}
    if "license" in names:
        ev = "license_evidence" in names
        kind = pl.col("license_evidence").str.split(":").list.first().str.strip_chars() if ev else pl.lit(None)
        df = (lf.group_by(pl.col("license").fill_null("unknown"), kind.alias("kind"))
              .agg(docs=pl.len(), with_evidence=pl.col("license_evidence").is_not_null().sum() if ev else pl.lit(0))
              .collect())
        lic: dict[str, dict] = {}
        for name, k, docs, with_ev in df.sort("license", "kind", nulls_last=True).iter_rows():
            e = lic.setdefault(name, {"docs": 0, "with_evidence": 0, "evidence_kinds": {}})
            e["docs"] += docs
            e["with_evidence"] += with_ev
            if k:
                e["evidence_kinds"][k] = e["evidence_kinds"].get(k, 0) + docs
        out["licenses"] = dict(sorted(lic.items(), key=lambda kv: -kv[1]["docs"]))
    opt = sorted(n for n in names if any(h in n.lower() for h in OPT_OUT_HINTS))
    if opt:
        col = pl.col(opt[0])
        dtype = schema[opt[0]]
        flagged = col.fill_null(False) if dtype == pl.Boolean else (col.is_not_null() & (col.cast(pl.Utf8) != ""))
        df = lf.group_by(src).agg(flagged=flagged.sum(), docs=pl.len()).sort("source").collect()
        out["opt_out_column"] = {"column": opt[0], "by_source": {s: int(f) for s, f, _ in df.iter_rows()},
                                 "flagged": int(df["flagged"].sum()), "by_signal": {}}
        if dtype == pl.String:  # provenance.optout writes `signal=value` (robots_txt=GPTBot, tdm_header=1)
            kinds = (lf.filter(col.is_not_null()).group_by(col.str.split("=").list.first().alias("k"))
                     .agg(n=pl.len()).sort("k").collect())
            out["opt_out_column"]["by_signal"] = {k: int(n) for k, n in kinds.iter_rows()}
    for col, key in (("pii", "pii_docs"), ("contamination", "contaminated_docs")):
        if col in names:
            out[key] = int(lf.select(_nonempty(col, schema[col]).sum()).collect().item())
    if "url" in names:
        host = pl.col("url").str.extract(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)", 1).str.to_lowercase()
        size = pl.col("text").str.len_bytes().sum() if "text" in names else pl.len()
        df = (lf.filter(pl.col("url").is_not_null()).group_by(host.alias("domain")).agg(docs=pl.len(), bytes=size)
              .drop_nulls("domain").sort(["bytes", "domain"], descending=[True, False]).collect())
        out["domains"] = {"count": df.height, "top": df.head(TOP_DOMAINS).to_dicts()}
    if "text" in names:
        ex = (lf.select("id", "source", pl.col("text").str.slice(0, EXAMPLE_CHARS))
              .filter(pl.int_range(pl.len()).over("source") < KEPT_EXAMPLES).sort("source", "id").collect())
        out["kept_examples"] = ex.to_dicts()
    return out


def _nonempty(name: str, dtype) -> pl.Expr:
    """True where a map or list column holds at least one entry (PII types, benchmark matches)."""
    col = pl.col(name)
    n = col.map.len() if isinstance(dtype, getattr(pl, "Map", ())) else col.list.len()
    return n.fill_null(0).gt(0)


def _nested(lf: pl.LazyFrame, key: str) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for s, k, docs, b in lf.collect().sort("source", key).iter_rows():
        out.setdefault(s, {})[k] = {"docs": int(docs), "bytes": int(b)}
    return out


def dropped(folder: Path) -> dict | None:
    """Counts of removed documents by step and reason from dropped/*.parquet, where the run wrote them."""
    files = sorted((folder / "dropped").glob("*.parquet"))
    if not files:
        return None
    try:
        df = pl.scan_parquet([str(f) for f in files]).group_by("step", "reason").agg(n=pl.len()).collect()
    except (pl.exceptions.PolarsError, OSError) as err:
        return {"error": str(err)}
    out: dict[str, dict[str, int]] = {}
    for step, reason, n in df.sort("step", "reason").iter_rows():
        out.setdefault(str(step), {})[str(reason)] = int(n)
    return {"files": len(files), "by_step": out}
