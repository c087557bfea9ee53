"""The card's sections as plain blocks (paragraphs, tables, charts) that markdown.py and html.py render.

Every section is always present, in a fixed order; one a run did not use says so and why, so a
reader can tell "no PII was found" from "PII was never looked for".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list]


@dataclass
class Chart:
    kind: str  # funnel | bars | hist | mixture (plots.py draws each)
    title: str
    data: dict


@dataclass
class Example:
    label: str
    text: str


@dataclass
class Section:
    id: str
    title: str
    used: bool = True
    blocks: list = field(default_factory=list)


def num(n) -> str:
    return "-" if n is None else f"{n:,}" if isinstance(n, int) else f"{n:,.4g}"


def size(b: int | None) -> str:
    if b is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(b) < 1000 or unit == "TB":
            return f"{b:,.0f} {unit}" if unit == "B" else f"{b:,.1f} {unit}"
        b /= 1000
    return str(b)


def pct(part, whole) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def not_used(sec: Section, what: str) -> Section:
    sec.used = False
    sec.blocks.append(f"Not used: {what}")
    return sec


def build(card: dict) -> list[Section]:
    return [overview(card), funnel(card), sources(card), licences(card), opt_out(card), pii(card), dedup(card),
            quality(card), contamination(card), training(card), examples(card), reproducibility(card)]


def overview(card: dict) -> Section:
    runs, toks, trains = card["curation"], card["tokens"], card["training"]
    sec = Section("overview", "Overview")
    sec.blocks.append(f"This card covers {len(runs)} curation run(s), {len(toks)} tokenized corpus(es) and "
                      f"{len(trains)} training run(s), read from their manifests and reports by gristmill "
                      f"{card.get('gristmill', '?')}.")
    if runs:
        sec.blocks.append(Table(["run", "pipeline", "docs read", "docs kept", "kept", "bytes kept", "finished"],
                                [[r["name"], r["config_file"], num(r["read"]["docs"]), num(r["output"]["docs"]),
                                  pct(r["output"]["docs"], r["read"]["docs"]), size(r["output"]["bytes"]),
                                  r["finished"]] for r in runs]))
        if not any(r["output"]["docs"] for r in runs):
            sec.blocks.append("Warning: no run kept any document.")
    for note in card["notes"]:
        sec.blocks.append(f"Note: {note}")
    return sec


def funnel(card: dict) -> Section:
    sec = Section("funnel", "Document funnel")
    if not card["curation"]:
        return not_used(sec, "no curation run in this card.")
    sec.blocks.append("Documents and bytes left after each step, as a share of what the reader produced.")
    for r in card["curation"]:
        read = r["funnel"][0]
        sec.blocks.append(Chart("funnel", f"{r['name']}: documents and bytes through every step",
                                {"steps": [f["step"] for f in r["funnel"]],
                                 "docs": [f["docs"] for f in r["funnel"]], "bytes": [f["bytes"] for f in r["funnel"]]}))
        rows = [["read", num(read["docs"]), "100%", size(read["bytes"]), "100%",
                 ", ".join(f"{k}: {v}" for k, v in r["read"]["skipped"].items()) or "-"]]
        for s in r["steps"]:
            top = sorted(s["removed"].items(), key=lambda kv: -kv[1])[:4]
            rows.append([s["step"], num(s["docs_out"]), pct(s["docs_out"], read["docs"]), size(s["bytes_out"]),
                         pct(s["bytes_out"], read["bytes"]), ", ".join(f"{k}: {v}" for k, v in top) or "-"])
        sec.blocks.append(Table([f"{r['name']} step", "docs", "of read", "bytes", "of read",
                                 "removed (top reasons) / skipped"], rows))
    return sec


def tokens_by_source(card: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in card["tokens"]:
        for s, v in t["sources"].items():
            out[s] = out.get(s, 0) + v["train_tokens"] + v["val_tokens"]
    return out


def sources(card: dict) -> Section:
    sec = Section("sources", "Sources and languages")
    toks = tokens_by_source(card)
    if not card["curation"] and not toks:
        return not_used(sec, "no curation run or tokenized corpus in this card.")
    if toks:
        total = sum(toks.values())
        sec.blocks.append(Chart("bars", "Tokens by source", {"labels": list(toks), "values": list(toks.values())}))
        sec.blocks.append(Table(["source", "tokens", "share"], [[s, num(n), pct(n, total)] for s, n in toks.items()]))
    else:
        sec.blocks.append("No tokenized corpus given: sources are measured in documents and bytes, not tokens.")
    rows = [[r["name"], s, num(r["read"]["sources"].get(s, {}).get("docs")), num(v["docs"]), size(v["bytes"])]
            for r in card["curation"] for s, v in r["output"]["sources"].items()]
    if rows:
        sec.blocks.append(Table(["run", "source", "docs read", "docs kept", "bytes kept"], rows))
    lang_runs = [r for r in card["curation"] if r.get("languages")]
    if not lang_runs:
        sec.blocks.append("Language: not used: no run identified languages (no filter.language step, no `lang` "
                          "column), so the corpus's languages are not recorded.")
        return sec
    rows = []
    for r in lang_runs:
        for s, langs in r["languages"].items():
            src_bytes = sum(v["bytes"] for v in langs.values()) or 1
            for lang, v in langs.items():
                est = round(toks[s] * v["bytes"] / src_bytes) if s in toks else None
                rows.append([r["name"], s, lang, num(v["docs"]), size(v["bytes"]), num(est)])
    sec.blocks.append(Table(["run", "source", "language", "docs", "bytes", "tokens (by byte share)"], rows))
    missing = [r["name"] for r in card["curation"] if not r.get("languages")]
    if missing:
        sec.blocks.append(f"Language not identified in: {', '.join(missing)}.")
    return sec


def licences(card: dict) -> Section:
    sec = Section("licences", "Licences")
    runs = [r for r in card["curation"] if r.get("licenses")]
    if not runs:
        return not_used(sec, "no run tagged licences (no provenance.license step, no `license` column); the "
                             "licence of these documents is not recorded here.")
    for r in runs:
        total = sum(v["docs"] for v in r["licenses"].values())
        sec.blocks.append(Chart("bars", f"{r['name']}: documents by licence",
                                {"labels": list(r["licenses"]), "values": [v["docs"] for v in r["licenses"].values()]}))
        sec.blocks.append(Table([f"{r['name']} licence", "docs", "share", "with evidence", "evidence kinds"],
                                [[k, num(v["docs"]), pct(v["docs"], total), num(v["with_evidence"]),
                                  ", ".join(f"{e}: {n}" for e, n in v["evidence_kinds"].items()) or "-"]
                                 for k, v in r["licenses"].items()]))
    return sec


def opt_out(card: dict) -> Section:
    sec = Section("opt-out", "Opt-out (text and data mining reservations)")
    runs = [r for r in card["curation"] if r.get("opt_out")]
    if not runs:
        return not_used(sec, "no run checked opt-out signals (no opt-out step, counter or column); reservations "
                             "of rights were not honoured by gristmill for these runs.")
    rows = []
    for r in runs:
        o = r["opt_out"]
        rows += [[r["name"], f"removed ({k})", num(v)] for k, v in o["removed"].items()]
        rows += [[r["name"], f"counted ({k})", num(v)] for k, v in o["counted"].items()]
        if o["column"]:
            rows.append([r["name"], f"kept documents flagged in `{o['column']['column']}`", num(o["column"]["flagged"])])
            rows += [[r["name"], f"  of which signal {k}", num(v)] for k, v in o["column"]["by_signal"].items()]
    sec.blocks.append(Table(["run", "what", "documents"], rows or [["-", "opt-out step ran, nothing found", "0"]]))
    return sec


def pii(card: dict) -> Section:
    sec = Section("pii", "Personal data (PII)")
    runs = [r for r in card["curation"] if r.get("pii")]
    if not runs:
        return not_used(sec, "no run looked for personal data (no pii step).")
    for r in runs:
        p = r["pii"]
        types = sorted(set(p["detected"]) | set(p["redacted"]))
        sec.blocks.append(f"{r['name']}: {', '.join(p['steps'])} checked {num(p['docs_checked'])} documents; "
                          f"{num(p['docs_dropped'])} dropped for too much PII; "
                          f"{num(r.get('pii_docs'))} kept documents had PII (replaced by placeholders).")
        if types:
            sec.blocks.append(Chart("bars", f"{r['name']}: PII found by type",
                                    {"labels": types, "values": [p["detected"].get(t, 0) for t in types]}))
        sec.blocks.append(Table([f"{r['name']} type", "found", "redacted"],
                                [[t, num(p["detected"].get(t, 0)), num(p["redacted"].get(t, 0))] for t in types]
                                or [["(none found)", "0", "0"]]))
    return sec


def dedup(card: dict) -> Section:
    sec = Section("dedup", "Duplicates")
    runs = [r for r in card["curation"] if r.get("dedup")]
    if not runs:
        return not_used(sec, "no run deduplicated (no dedup step).")
    for r in runs:
        d = r["dedup"]
        sec.blocks.append(Table([f"{r['name']} step", "docs in", "removed", "reasons"],
                                [[s["step"], num(s["docs_in"]), num(s["removed"]),
                                  ", ".join(f"{k}: {v}" for k, v in s["reasons"].items()) or "-"] for s in d["steps"]]))
        cs = d["cluster_sizes"]
        if cs:
            sec.blocks.append(Chart("bars", f"{r['name']}: near-duplicate clusters by size (one document kept each)",
                                    {"labels": [str(k) for k in cs], "values": list(cs.values()), "log": True}))
            sec.blocks.append(Table(["cluster size", "clusters", "documents removed"],
                                    [[num(k), num(v), num((k - 1) * v)] for k, v in cs.items()]))
        else:
            sec.blocks.append("Cluster sizes: not recorded (no dedup.minhash `dup_cluster_size` column).")
    return sec


def quality(card: dict) -> Section:
    sec = Section("quality", "Quality scores")
    runs = [r for r in card["curation"] if r.get("quality_histograms") or r.get("quality_model")]
    if not runs:
        return not_used(sec, "no run scored quality (no filter.quality step, no `quality_score` column).")
    for r in runs:
        m = r.get("quality_model") or {}
        if m.get("error"):
            sec.blocks.append(f"{r['name']}: model {m['name']!r}: its card could not be read ({m['error']}).")
        elif m:
            h = m.get("heldout") or {}
            sec.blocks.append(f"{r['name']}: scored by quality model `{m['name']}` (labels {', '.join(m['labels'])}; "
                              f"positive {', '.join(m['score'].get('positive', []))}; normalization "
                              f"{m['normalization']['name']}); held-out precision {h.get('precision')}, recall "
                              f"{h.get('recall')}, ROC AUC {h.get('roc_auc')} on {h.get('docs')} documents. "
                              f"Model sha256 {m['model'].get('sha256', '?')[:16]}.")
            if m.get("notes"):
                sec.blocks.append(f"Model card notes: {m['notes']}")
        qh = r.get("quality_histograms")
        if qh:
            sec.blocks.append(Chart("hist", f"{r['name']}: quality score by source", qh))
            rows = []
            for s, counts in qh["sources"].items():
                n = sum(counts)
                rows.append([s, num(n), pct(sum(counts[len(counts) // 2:]), n)])
            sec.blocks.append(Table([f"{r['name']} source", "docs scored", "score >= 0.5"], rows))
    return sec


def contamination(card: dict) -> Section:
    sec = Section("contamination", "Benchmark contamination")
    runs = [r for r in card["curation"] if r.get("contamination")]
    if not runs:
        return not_used(sec, "no run checked benchmark contamination (no decontam step).")
    for r in runs:
        c, rep = r["contamination"], r["contamination"]["report"]
        if not rep:
            sec.blocks.append(f"{r['name']}: {', '.join(c['steps'])} ran but wrote no contamination report.")
            continue
        unit = "word" if rep["ngram"]["unit"] == "words" else "character"
        sec.blocks.append(f"{r['name']}: {rep['ngram']['n']}-{unit} n-grams, action **{rep['action']}**; "
                          f"{num(c['docs_removed'])} documents removed, {num(r.get('contaminated_docs'))} kept "
                          "documents annotated.")
        sec.blocks.append(Table([f"{r['name']} benchmark", "items", "found in corpus", "documents", "by source"],
                                [[b, num(v["items"]), f"{num(v['items_found'])} ({pct(v['items_found'], v['items'])})",
                                  num(v["documents"]),
                                  ", ".join(f"{s}: {n}" for s, n in v["documents_by_source"].items()) or "-"]
                                 for b, v in rep["benchmarks"].items()]))
    return sec


def training(card: dict) -> Section:
    sec = Section("training", "Mixture and training")
    if not card["training"]:
        return not_used(sec, "no training run in this card, so no mixture weights or realised epochs.")
    for t in card["training"]:
        seen = t["tokens_by_source"]
        total = sum(seen.values()) or 1
        names = sorted(set(seen) | {s for st in t["stages"] for s in st["weights"]})
        stages = [st["stage"] for st in t["stages"]]
        sec.blocks.append(f"{t['dir']}: {num(t['steps'])} steps, {num(t['tokens_total'])} tokens, model "
                          f"{(t.get('model') or {}).get('size', '?')}.")
        sec.blocks.append(Chart("mixture", f"{t['dir']}: mixture weights and tokens seen",
                                {"sources": names, "stages": {st["stage"]: [st["weights"].get(s, 0) for s in names]
                                                              for st in t["stages"]},
                                 "realised": [seen.get(s, 0) / total for s in names]}))
        rows = []
        for s in names:
            loss = t["val"].get(s, {}).get("loss")
            rows.append([s] + [num(st["weights"].get(s, 0)) for st in t["stages"]]
                        + [num(seen.get(s, 0)), pct(seen.get(s, 0), total), num(t["epochs_by_source"].get(s)),
                           num(loss)])
        sec.blocks.append(Table(["source"] + [f"weight ({s})" for s in stages]
                                + ["tokens seen", "share", "epochs", "val loss"], rows))
        caps = [f"{st['stage']}: {st['max_epochs']}" for st in t["stages"] if st.get("max_epochs") is not None]
        if caps:
            sec.blocks.append(f"Max epochs per source: {', '.join(caps)}.")
    return sec


def examples(card: dict) -> Section:
    sec = Section("examples", "Example documents")
    if not card["curation"]:
        return not_used(sec, "no curation run in this card.")
    for r in card["curation"]:
        removed, kept = r["examples"]["removed"], r["examples"]["kept"]
        filters = [s["step"] for s in r["steps"] if s["removed"]]
        for step in filters:
            ex = removed.get(step)
            if ex:
                sec.blocks += [Example(f"{r['name']} · removed by {step} ({e['reason']}) · {e['source']} · {e['id']}",
                                       e["text"]) for e in ex]
            else:
                sec.blocks.append(f"{r['name']} · {step}: removed documents were not sampled "
                                  "(output.keep_rejected: 0).")
        sec.blocks += [Example(f"{r['name']} · kept · {e['source']} · {e['id']}", e["text"]) for e in kept]
        if not kept:
            sec.blocks.append(f"{r['name']}: no kept documents.")
    return sec


def reproducibility(card: dict) -> Section:
    sec = Section("reproducibility", "Reproducibility: configs, inputs, packages")
    rows = [[r["name"], "curation", r["config_hash"][:16], f"{len(r['inputs'])} files, "
             f"{size(sum(i['bytes'] for i in r['inputs']))}", r["dir"]] for r in card["curation"]]
    rows += [["tokenize", "tokens", t["config_hash"] or "-",
              f"tokenizer sha256 {t['tokenizer']['sha256'][:16]}" if t["tokenizer"] else "-", t["dir"]]
             for t in card["tokens"]]
    rows += [["train", f"mixture {st['stage']}", (st["mixture_sha256"] or "-")[:16], st["mixture"] or "-", t["dir"]]
             for t in card["training"] for st in t["stages"]]
    sec.blocks.append(Table(["what", "kind", "config / file hash", "inputs", "folder"], rows))
    packages: dict[tuple[str, str], list[str]] = {}
    for r in card["curation"]:
        for p, v in r["packages"].items():
            packages.setdefault((p, v or "-"), []).append(r["name"])
    sec.blocks.append(Table(["package", "version", "runs"],
                            [[p, v, ", ".join(runs)] for (p, v), runs in sorted(packages.items())]))
    inputs = [[r["name"], i["file"], size(i["bytes"]), i["sha256"][:16]] for r in card["curation"]
              for i in r["inputs"][:10]]
    if inputs:
        sec.blocks.append(Table(["run", "input file (first 10)", "bytes", "sha256"], inputs))
    return sec
