"""croissant.json: the curated corpus described in Croissant 1.0 JSON-LD (MLCommons) with the
Responsible-AI extension (RAI 1.0): one FileSet and RecordSet per curation run (its Parquet shards and
their typed columns), the manifests as hashed FileObjects, and the RAI fields filled from what the runs
recorded (collection, preprocessing, machine annotations, personal data, limitations)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from provenance.files import file_sha256

CONFORMS_TO = ["http://mlcommons.org/croissant/1.0", "http://mlcommons.org/croissant/RAI/1.0"]
# The published Croissant 1.0 @context (https://docs.mlcommons.org/croissant/docs/croissant-spec.html), plus rai:.
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "equivalentProperty": "cr:equivalentProperty", "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract",
    "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet",
    "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath",
    "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet",
    "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace",
    "samplingRate": "cr:samplingRate", "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform",
}
# RAI 1.0 properties this file may carry (the vocabulary tests check against).
RAI_FIELDS = ("dataCollection", "dataCollectionType", "dataCollectionMissingData", "dataCollectionRawData",
              "dataPreprocessingProtocol", "dataAnnotationProtocol", "machineAnnotationTools", "dataUseCases",
              "dataBiases", "dataLimitations", "dataSocialImpact", "personalSensitiveInformation",
              "dataReleaseMaintenancePlan")
DATA_TYPES = {"string": "sc:Text", "large_string": "sc:Text", "bool": "sc:Boolean", "double": "sc:Float",
              "float": "sc:Float", "halffloat": "sc:Float", "int8": "sc:Integer", "int16": "sc:Integer",
              "int32": "sc:Integer", "int64": "sc:Integer", "uint8": "sc:Integer", "uint16": "sc:Integer",
              "uint32": "sc:Integer", "uint64": "sc:Integer", "date32[day]": "sc:Date"}
READER_COLLECTION = {"warc": "Web Scraping", "pdf": "Document Extraction", "jsonl": "Existing Dataset",
                     "parquet": "Existing Dataset", "hf_disk": "Existing Dataset"}


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "run"


def build(card: dict, out: Path, name: str) -> dict:
    runs = card["curation"]
    distribution, record_sets = [], []
    for r in runs:
        rid, rel = slug(r["name"]), Path(os.path.relpath(r["dir"], out))
        manifest = Path(r["dir"]) / "manifest.json"
        distribution.append({"@type": "cr:FileObject", "@id": f"{rid}-manifest", "name": f"{rid}-manifest",
                             "description": f"gristmill run manifest of {r['name']} (config {r['config_hash'][:16]})",
                             "contentUrl": (rel / "manifest.json").as_posix(), "encodingFormat": "application/json",
                             "sha256": file_sha256(manifest)})
        distribution.append({"@type": "cr:FileSet", "@id": f"{rid}-shards", "name": f"{rid}-shards",
                             "description": f"the {r['output']['docs']:,} documents {r['name']} kept",
                             "encodingFormat": "application/x-parquet",
                             "includes": (rel / "part-*.parquet").as_posix()})
        fields = [{"@type": "cr:Field", "@id": f"{rid}/{col}", "name": col, "dataType": DATA_TYPES[t],
                   "source": {"fileSet": {"@id": f"{rid}-shards"}, "extract": {"column": col}}}
                  for col, t in r["output"]["columns"].items() if t in DATA_TYPES]
        record_sets.append({"@type": "cr:RecordSet", "@id": rid, "name": rid,
                            "description": f"documents of {r['name']}, one per row; sources "
                                           f"{', '.join(r['output']['sources']) or 'none'}", "field": fields})
    licenses = sorted({k for r in runs for k in (r.get("licenses") or {}) if k != "unknown"})
    doc = {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": CONFORMS_TO, "name": slug(name),
        "description": description(card), "url": "card.html",  # beside this file; the card folder moves with its data
        "version": "1.0.0", "datePublished": max((r["finished"] for r in runs), default=None) or "1970-01-01",
        "license": [f"https://spdx.org/licenses/{k}.html" for k in licenses] or
                   ["https://spdx.org/licenses/NOASSERTION.html"],
        "creator": {"@type": "sc:Organization", "name": "gristmill user (provider to complete)"},
        "citeAs": f"@misc{{{slug(name)}, title={{{description(card)}}}, note={{gristmill data card}}}}",
        "keywords": ["language model training data", "gristmill"],
        "distribution": distribution, "recordSet": record_sets,
    }
    doc.update({f"rai:{k}": v for k, v in rai(card).items()})
    return doc


def description(card: dict) -> str:
    runs = card["curation"]
    kept = sum(r["output"]["docs"] for r in runs)
    read = sum(r["read"]["docs"] for r in runs)
    return (f"Training text curated by gristmill: {kept:,} documents kept of {read:,} read in {len(runs)} run(s) "
            f"({', '.join(r['name'] for r in runs) or 'none'}).")


def rai(card: dict) -> dict:
    runs = card["curation"]
    readers = sorted({(r["config"].get("input") or {}).get("reader", "?") for r in runs})
    steps = [f"{r['name']}: {s['step']} ({s['docs_in']:,} -> {s['docs_out']:,} documents"
             + (f"; removed {', '.join(f'{k} {v}' for k, v in s['removed'].items())}" if s["removed"] else "") + ")"
             for r in runs for s in r["steps"]]
    pii = [f"{r['name']}: {', '.join(f'{k} {v}' for k, v in r['pii']['detected'].items()) or 'none found'}; "
           f"replaced by type placeholders ({sum(r['pii']['redacted'].values()):,} spans), "
           f"{r['pii']['docs_dropped']:,} documents dropped" for r in runs if r.get("pii")]
    unchecked = [r["name"] for r in runs if not r.get("pii")]
    tools = sorted({s["name"] for r in runs for s in r["steps"]
                    if s["name"].split(".")[0] in ("filter", "pii", "decontam", "dedup", "provenance")})
    skipped = {k: v for r in runs for k, v in r["read"]["skipped"].items()}
    qm = [r["quality_model"] for r in runs if r.get("quality_model") and not r["quality_model"].get("error")]
    return {
        "dataCollection": "; ".join(f"{r['name']}: {r['read']['docs']:,} documents read by the "
                                    f"{(r['config'].get('input') or {}).get('reader', '?')} reader from "
                                    f"{len(r['inputs'])} input files ({sum(i['bytes'] for i in r['inputs']):,} bytes, "
                                    f"each sha256 in the run manifest), run finished {r['finished']}" for r in runs)
        or "no curation run",
        "dataCollectionType": sorted({READER_COLLECTION.get(x, "Other") for x in readers}) or ["Other"],
        "dataCollectionMissingData": "Records the readers could not turn into documents, by reason: "
                                     + (", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none") + ".",
        "dataCollectionRawData": "Raw inputs are listed with their sha256 in each run manifest: "
                                 + ", ".join(i["file"] for r in runs for i in r["inputs"][:20]),
        "dataPreprocessingProtocol": steps or ["no processing steps"],
        "dataAnnotationProtocol": "Machine annotations only (no human annotators): "
                                  + (", ".join(tools) or "none") + ".",
        "machineAnnotationTools": tools + [f"fastText quality model {m['name']} (sha256 {m['model'].get('sha256')})"
                                           for m in qm],
        "dataUseCases": ["Pre-training and mid-training of language models; the curation statistics support "
                         "mixture selection."],
        "dataBiases": ["Heuristic and model-based quality filters favour edited, English, prose-like text; "
                       "sources are kept in the proportions shown in card.html, not balanced."]
                      + [f"Quality model {m['name']}: {m.get('notes')}" for m in qm if m.get("notes")],
        "dataLimitations": ["Filters remove documents by rule; removed examples per filter are in card.html. "
                            "Licence and opt-out tagging only cover runs that ran those steps."],
        "dataSocialImpact": "Curated for training language models; personal data found by automatic detection "
                            "was redacted where a PII step ran (see personalSensitiveInformation).",
        "personalSensitiveInformation": pii + ([f"not checked for personal data: {', '.join(unchecked)}"]
                                               if unchecked else []) or ["no run"],
        "dataReleaseMaintenancePlan": "Re-running the recorded configs (hashes in the manifests) on the same "
                                      "inputs reproduces the data byte for byte.",
    }
