"""The contamination report of a run (reports/contamination.json and .md, listed in the manifest):
per benchmark, how many of its items the documents contain, in how many documents, per source, with
the documents that overlap an item most as examples. Data cards include it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa

from provenance.files import write_atomic

EXAMPLES = 5  # per benchmark


def summary(records: pa.Table, checked: dict[str, tuple[int, int]], n: int, unit: str, action: str) -> dict:
    """`records`: one row per (document, item) matched: id, source, item (`benchmark/item id`),
    overlap (the share of the item's n-grams found). `checked`: benchmark -> (items, items checked)."""
    rows = records.to_pylist() if records.num_rows else []
    benchmarks = {}
    for name, (items, scanned) in checked.items():
        mine = [r for r in rows if r["item"].partition("/")[0] == name]
        docs = {r["id"]: r["source"] for r in mine}
        examples = sorted(mine, key=lambda r: (-r["overlap"], r["item"], r["id"]))[:EXAMPLES]
        benchmarks[name] = {
            "items": items, "items_checked": scanned, "items_found": len({r["item"] for r in mine}),
            "documents": len(docs), "documents_by_source": dict(sorted(Counter(docs.values()).items())),
            "examples": [{"item": r["item"], "document": r["id"], "source": r["source"],
                          "overlap": round(r["overlap"], 4)} for r in examples]}
    return {"ngram": {"n": n, "unit": unit}, "action": action, "benchmarks": benchmarks}


def ngram(report: dict) -> str:
    """`13-word` or `50-character`, as a report's n-gram reads."""
    return f"{report['ngram']['n']}-{'word' if report['ngram']['unit'] == 'words' else 'character'}"


def markdown(report: dict) -> str:
    lines = [f"# Benchmark contamination\n\nDocuments sharing a {ngram(report)} n-gram (or a whole "
             f"short item) with a benchmark item; action taken: **{report['action']}**.\n",
             "| benchmark | items | checked | found in the corpus | documents | documents by source |",
             "|---|---|---|---|---|---|"]
    for name, b in report["benchmarks"].items():
        sources = ", ".join(f"{s}: {k}" for s, k in b["documents_by_source"].items()) or "-"
        lines.append(f"| {name} | {b['items']} | {b['items_checked']} | {b['items_found']} "
                     f"({b['items_found'] / max(b['items'], 1):.1%}) | {b['documents']} | {sources} |")
    for name, b in report["benchmarks"].items():
        if b["examples"]:
            lines.append(f"\n## {name}: documents that overlap an item most\n")
            lines += [f"- `{e['item']}` in `{e['document']}` ({e['source']}): {e['overlap']:.0%} of its n-grams"
                      for e in b["examples"]]
    return "\n".join(lines) + "\n"


def write(report: dict, folder: Path) -> list[str]:
    write_atomic(folder / "contamination.json", json.dumps(report, indent=2))
    write_atomic(folder / "contamination.md", markdown(report))
    return ["contamination.json", "contamination.md"]
