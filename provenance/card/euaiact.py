"""eu_ai_act_summary.json: the fields of the European Commission's template for the public summary of
training content of general-purpose AI models (AI Act art. 53(1)(d), template of July 2025), filled from
the runs: modality and size, data sources by type and share, the top domains of scraped content,
processing steps, measures on personal data and on rights reservations (opt-outs). What the runs
cannot know (provider, model release, whether a dataset was bought) is left as PROVIDER for the
provider to complete."""

from __future__ import annotations

from .sections import tokens_by_source

PROVIDER = "PROVIDER TO COMPLETE"
TEMPLATE = "EU AI Act, Article 53(1)(d): template for the public summary of training content (July 2025)"
SCRAPED_READERS = {"warc"}


def size_bucket(tokens: int) -> str:
    if tokens < 1_000_000_000:
        return "Less than 1 billion tokens"
    return "1 billion to 10 trillion tokens" if tokens <= 10_000_000_000_000 else "More than 10 trillion tokens"


def sources(card: dict) -> list[dict]:
    """Every source of every run with its type (scraped or dataset), documents, bytes and tokens."""
    toks = tokens_by_source(card)
    rows = []
    for r in card["curation"]:
        reader = (r["config"].get("input") or {}).get("reader", "?")
        kind = "data crawled and scraped from online sources" if reader in SCRAPED_READERS else "datasets"
        for s, v in r["output"]["sources"].items():
            rows.append({"source": s, "run": r["name"], "type": kind, "reader": reader, "documents": v["docs"],
                         "bytes": v["bytes"], "tokens": toks.get(s)})
    unit = "tokens" if rows and all(x["tokens"] is not None for x in rows) else "bytes"
    total = sum(x[unit] for x in rows) or 1
    for x in rows:
        x["share"] = round(x[unit] / total, 6)
        x["share_of"] = unit
    return rows


def top_domains(card: dict) -> dict:
    """The top 10% of domains by bytes (at least one; at most 1,000, the SME rule) across scraped runs."""
    merged: dict[str, int] = {}
    count = 0
    for r in card["curation"]:
        d = r.get("domains")
        if d:
            count += d["count"]
            for row in d["top"]:
                merged[row["domain"]] = merged.get(row["domain"], 0) + row["bytes"]
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    n = min(1000, max(1, -(-count // 10))) if count else 0
    return {"domains_total": count, "rule": "top 10% of domain names by bytes of content (at most 1,000)",
            "top": [{"domain": k, "bytes": v} for k, v in ranked[:n]]}


def build(card: dict) -> dict:
    runs, trains = card["curation"], card["training"]
    rows = sources(card)
    tokens = sum(tokens_by_source(card).values())
    by_type: dict[str, float] = {}
    for x in rows:
        by_type[x["type"]] = round(by_type.get(x["type"], 0) + x["share"], 6)
    langs = sorted({lang for r in runs for ls in (r.get("languages") or {}).values() for lang in ls})
    scraped = [x for x in rows if x["type"].startswith("data crawled")]
    pii = [{"run": r["name"], "steps": r["pii"]["steps"], "found_by_type": r["pii"]["detected"],
            "redacted_by_type": r["pii"]["redacted"], "documents_dropped": r["pii"]["docs_dropped"]}
           for r in runs if r.get("pii")]
    opt = [{"run": r["name"], **r["opt_out"]} for r in runs if r.get("opt_out")]
    illegal = [{"run": r["name"], "step": s["step"], "removed": s["removed"]} for r in runs for s in r["steps"]
               if s["name"] in ("filter.url",)]
    return {
        "template": TEMPLATE,
        "1_general_information": {
            "1_1_provider": {"name": PROVIDER, "contact": PROVIDER},
            "1_2_model": {"name": PROVIDER, "training_runs": [t["dir"] for t in trains],
                          "tokens_trained": [t["tokens_total"] for t in trains]},
            "1_3_modalities_and_size": {
                "modalities": ["text"], "training_data_size": size_bucket(tokens) if tokens else PROVIDER,
                "tokens": tokens or None, "documents": sum(r["output"]["docs"] for r in runs),
                "bytes": sum(r["output"]["bytes"] for r in runs),
                "types_of_content": sorted({x["source"].split("/")[0] for x in rows}),
                "latest_data_collection": max((r["finished"] for r in runs), default=None),
                "languages": langs or "not identified (no language-id step ran)"},
        },
        "2_data_sources": {
            "sources_by_type_and_share": rows, "share_by_type": by_type,
            "2_1_publicly_available_datasets": [x["source"] for x in rows if x["type"] == "datasets"],
            "2_1_note": "gristmill reads files; whether each dataset is public, licensed or private: " + PROVIDER,
            "2_2_private_third_party_datasets": PROVIDER,
            "2_3_crawled_and_scraped": {"sources": [x["source"] for x in scraped],
                                        "crawler": "none run by gristmill: content read from WARC files " + PROVIDER,
                                        "top_domains": top_domains(card)},
            "2_4_user_data": PROVIDER, "2_5_synthetic_data": PROVIDER, "2_6_other": PROVIDER,
        },
        "3_data_processing": {
            "processing_steps": [{"run": r["name"], "config_hash": r["config_hash"],
                                  "steps": [{"step": s["step"], "documents_in": s["docs_in"],
                                             "documents_out": s["docs_out"], "removed": s["removed"]}
                                            for s in r["steps"]]} for r in runs],
            "3_1_rights_reservations_opt_out": opt or "no opt-out step ran in these runs: reservations of rights "
                                                      "(robots.txt, TDM-Rep, ai.txt) were not checked by gristmill",
            "3_2_illegal_content_removal": illegal or "no URL block list ran in these runs",
            "personal_data_measures": pii or "no PII step ran in these runs",
            "3_3_other": {"deduplication": [s["step"] for r in runs for s in r["steps"] if s["name"].startswith("dedup.")],
                          "benchmark_decontamination": [s["step"] for r in runs for s in r["steps"]
                                                        if s["name"].startswith("decontam.")]},
        },
    }
