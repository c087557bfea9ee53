"""Reads run folders into one plain dict (JSON-ready) that every card writer renders.

A folder is a curation run (`manifest.json`), a tokenize output (`meta.json`) or a training output
(`summary.json`). References are followed where the files still exist: a training summary names the
token folder and mixtures it used, a token folder the curation manifests it read, so a card for a
model reaches back to the raw input bytes. Output shards are read lazily with polars, one small
aggregate per optional column; a column or step a run did not have leaves its part `None`, and the
writers say "not used" rather than dropping the section.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from provenance.files import file_sha256
from provenance.manifest import VERSION, RunManifest
from provenance.yamlfile import ConfigError

from . import columns

log = logging.getLogger("gristmill")

EXAMPLES_PER_STEP = 3
EXAMPLE_CHARS = 400


def gather(run_dirs: list[Path]) -> dict:
    """Every folder in `run_dirs` (and what they reference) as one dict; ConfigError names a bad one."""
    card: dict = {"curation": [], "tokens": [], "training": [], "notes": []}
    seen: set[Path] = set()
    todo = [(Path(d), None) for d in run_dirs]
    errors = [f"{d}: no such run folder" for d, _ in todo if not d.is_dir()]
    if errors:
        raise ConfigError(errors)
    while todo:
        folder, referrer = todo.pop(0)
        key = folder.resolve()
        if key in seen:
            continue
        seen.add(key)
        if not folder.is_dir():
            card["notes"].append(f"{referrer} refers to {folder}, which is not here; its part is left out")
            continue
        if (folder / "manifest.json").is_file():
            card["curation"].append(curation(folder))
        elif (folder / "meta.json").is_file():
            tokens = tokenized(folder)
            card["tokens"].append(tokens)
            todo += [(Path(r["manifest"]).parent, folder) for r in tokens["curated_runs"]]
        elif (folder / "summary.json").is_file():
            run = trained(folder)
            card["training"].append(run)
            todo += [(Path(p), folder) for p in dict.fromkeys(s["tokens"] for s in run["stages"] if s["tokens"])]
        else:
            raise ConfigError([f"{folder}: not a gristmill run folder (no manifest.json, meta.json or summary.json)"])
    return card


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError([f"{path}: not readable JSON ({err})"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a JSON object"])
    return data


def _manifest(path: Path) -> RunManifest:
    version = _json(path).get("version", VERSION)
    if isinstance(version, int) and version < VERSION:
        raise ConfigError([f"{path}: manifest version {version} is older than this gristmill reads ({VERSION}); "
                           "re-run the pipeline to write a current manifest"])
    return RunManifest.load(path)


def curation(folder: Path) -> dict:
    """One curation run: the manifest's bookkeeping plus aggregates over its output shards."""
    m = _manifest(folder / "manifest.json")
    steps = [{"step": s.step, "name": s.step.partition(":")[2], "docs_in": s.docs_in, "docs_out": s.docs_out,
              "bytes_in": s.bytes_in, "bytes_out": s.bytes_out, "removed": dict(s.removed),
              "counters": dict(s.counters), "seconds": s.seconds,
              "sources": {k: {"docs_in": c.docs_in, "docs_out": c.docs_out} for k, c in s.sources.items()}}
             for s in m.steps]
    shards = [folder / s.name for s in m.output.shards if (folder / s.name).is_file()]
    run = {
        "name": m.name, "dir": str(folder), "config_hash": m.config_hash, "config_file": m.config_file,
        "config": m.config, "finished": m.finished, "seconds": m.seconds, "packages": dict(m.packages),
        "inputs": [i.model_dump() for i in m.inputs],
        "read": {"docs": m.read.docs, "bytes": m.read.bytes, "skipped": dict(m.read.skipped),
                 "sources": {k: v.model_dump() for k, v in m.read.sources.items()}},
        "steps": steps,
        "funnel": [{"step": "read", "docs": m.read.docs, "bytes": m.read.bytes}]
                  + [{"step": s["step"], "docs": s["docs_out"], "bytes": s["bytes_out"]} for s in steps],
        "output": {"docs": m.output.docs, "bytes": m.output.bytes, "format": m.output.format,
                   "shards": [s.name for s in m.output.shards], "columns": dict(m.output.columns),
                   "sources": {k: v.model_dump() for k, v in m.output.sources.items()}},
        "pii": _pii(steps),
        "contamination": _contamination(folder, m, steps),
        "quality_model": _quality_model(steps, m.config),
        "examples": {"removed": _rejected(folder), "kept": []},
        "dropped": columns.dropped(folder),
    }
    run.update(columns.aggregates(shards, m.output.format))
    run["examples"]["kept"] = run.pop("kept_examples")
    run["dedup"] = _dedup(steps, run.pop("cluster_sizes"))
    run["opt_out"] = _opt_out(steps, run.pop("opt_out_column"))
    return run


def _counter_group(steps: list[dict], prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in steps:
        for k, v in s["counters"].items():
            if k.startswith(prefix):
                out[k[len(prefix):]] = out.get(k[len(prefix):], 0) + v
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _pii(steps: list[dict]) -> dict | None:
    used = [s for s in steps if s["name"].startswith("pii.")]
    if not used:
        return None
    dropped = sum(v for s in used for k, v in s["removed"].items() if k.startswith("pii:"))
    return {"steps": [s["step"] for s in used], "detected": _counter_group(used, "pii:"),
            "redacted": _counter_group(used, "redacted:"), "docs_dropped": dropped,
            "docs_checked": sum(s["docs_in"] for s in used)}


def _contamination(folder: Path, m: RunManifest, steps: list[dict]) -> dict | None:
    used = [s for s in steps if s["name"].startswith("decontam.")]
    if not used:
        return None
    report = None
    for files in m.reports.values():
        for f in files:
            if f.endswith("contamination.json") and (folder / f).is_file():
                report = _json(folder / f)
    if report is None and (folder / "reports" / "contamination.json").is_file():
        report = _json(folder / "reports" / "contamination.json")
    return {"steps": [s["step"] for s in used], "report": report,
            "docs_removed": sum(sum(s["removed"].values()) for s in used)}


def _dedup(steps: list[dict], cluster_sizes: dict | None) -> dict | None:
    used = [s for s in steps if s["name"].startswith("dedup.")]
    if not used:
        return None
    return {"steps": [{"step": s["step"], "docs_in": s["docs_in"], "removed": sum(s["removed"].values()),
                       "reasons": s["removed"]} for s in used], "cluster_sizes": cluster_sizes}


def _opt_out(steps: list[dict], column: dict | None) -> dict | None:
    removed = {f"{s['step']}/{k}": v for s in steps for k, v in s["removed"].items() if "opt" in k.lower()}
    counted = {f"{s['step']}/{k}": v for s in steps for k, v in s["counters"].items() if "opt" in k.lower()}
    steps_used = [s["step"] for s in steps if "opt" in s["name"].lower()]
    if not (removed or counted or steps_used or column):
        return None
    return {"steps": steps_used, "removed": removed, "counted": counted, "column": column}


def _quality_model(steps: list[dict], config: dict) -> dict | None:
    """The card of the model filter.quality scored with (name from the run's config)."""
    params = [p for st in config.get("steps", []) if isinstance(st, dict)
              for name, p in st.items() if name.startswith("filter.quality") and isinstance(p, dict) and "model" in p]
    if not params:
        return None
    name = params[0]["model"]
    try:
        from curate.quality.model import read_card
        path, qcard = read_card(name)
    except Exception as err:  # noqa: BLE001 - the card says why the model's own card is missing
        return {"name": name, "error": str(err)}
    keep = ("format", "name", "labels", "score", "normalization", "seed", "notes", "heldout", "split")
    out = {k: qcard.get(k) for k in keep}
    out["model"] = {**qcard.get("model", {}), "path": str(path)}
    out["sources"] = [{k: s.get(k) for k in ("name", "label", "read", "docs")} for s in qcard.get("sources", [])]
    return out


def _rejected(folder: Path) -> dict[str, list[dict]]:
    """A few sampled removed documents per step from rejected/*.jsonl, one per reason first."""
    out: dict[str, list[dict]] = {}
    for path in sorted((folder / "rejected").glob("*.jsonl"), key=lambda p: int(p.name.split("-")[0])
                       if p.name.split("-")[0].isdigit() else 0):
        rows, reasons = [], set()
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                if i >= 500:
                    break
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                rows.append(r)
        picked = [r for r in rows if r.get("reason") not in reasons and not reasons.add(r.get("reason"))]
        picked += [r for r in rows if r not in picked]
        step = rows[0].get("step", path.stem) if rows else path.stem
        out[step] = [{"reason": r.get("reason"), "id": r.get("id"), "source": r.get("source"),
                      "text": (r.get("text") or "")[:EXAMPLE_CHARS]} for r in picked[:EXAMPLES_PER_STEP]]
    return out


def tokenized(folder: Path) -> dict:
    meta = _json(folder / "meta.json")
    sources = {k: {"train_tokens": v.get("train", {}).get("tokens", 0), "val_tokens": v.get("val", {}).get("tokens", 0),
                   "docs": v.get("train", {}).get("docs", 0) + v.get("val", {}).get("docs", 0),
                   "bytes": v.get("train", {}).get("bytes", 0) + v.get("val", {}).get("bytes", 0)}
               for k, v in meta.get("sources", {}).items()}
    tok = folder / "tokenizer" / "tokenizer.json"
    return {"dir": str(folder), "vocab_size": meta.get("vocab_size"), "dtype": meta.get("dtype"),
            "config_hash": meta.get("config_hash"), "sources": sources,
            "tokenizer": {"path": str(tok), "sha256": file_sha256(tok)} if tok.is_file() else None,
            "curated_runs": [r for r in meta.get("curated_runs", []) if r.get("manifest")]}


def trained(folder: Path) -> dict:
    s = _json(folder / "summary.json")
    config = _json(folder / "config.json") if (folder / "config.json").is_file() else {}
    stages = []
    for st in s.get("inputs", []):
        mixture = st.get("mixture", {}).get("path")
        max_epochs = None
        if mixture and Path(mixture).is_file():
            try:
                max_epochs = (yaml.safe_load(Path(mixture).read_text()) or {}).get("max_epochs")
            except (OSError, yaml.YAMLError):
                pass
        stages.append({"stage": st.get("stage"), "tokens": st.get("tokens", {}).get("path"), "mixture": mixture,
                       "mixture_sha256": st.get("mixture", {}).get("sha256"), "weights": st.get("weights", {}),
                       "max_epochs": max_epochs})
    return {"dir": str(folder), "steps": s.get("steps"), "tokens_total": s.get("tokens"),
            "tokens_by_source": s.get("tokens_by_source", {}), "epochs_by_source": s.get("epochs_by_source", {}),
            "val": s.get("val", {}), "stages": stages, "model": config.get("model"),
            "stage_tokens": {st.get("name"): st.get("tokens") for st in config.get("stages", [])}}
