"""pii.redact vs plain presidio on a third party's labelled set: presidio-evaluator 0.3.2's sentence
templates and fake-people table (tests/piitemplates.py), split by template into tune and held out.

Per type leak recall (a value leaks when 3+ of its letters or digits in a row survive; tests/piidata.py
`score`), non-PII words removed (template words and the organisations, jobs, nationalities, ages and
dates filled in; unclaimed values such as URLs and titles left out) and docs/s, for gristmill's default
entities, gristmill with all types, and plain presidio with the same setup as benchmarks/pii.py
(`AnalyzerEngine`, spaCy small model, score threshold 0.3): the six structured types for `default`,
plus PERSON and LOCATION for `all types`.

    .venv/bin/python benchmarks/pii_templates.py [--per-template 10] [--split tune|heldout|both]
                                                 [--misses N: print N leaked values per type, tune only]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pii import PLAIN_DEFAULT, PLAIN_ENTITIES, plain_presidio, run_ours, run_plain  # noqa: E402
from curate.pii.detect import ALL_TYPES, Detector  # noqa: E402
from curate.pii.recognizers import STRUCTURED_TYPES  # noqa: E402
from curate.pii.redact import DEFAULT_ENTITIES  # noqa: E402
from tests.piidata import PII, _leaked, score  # noqa: E402
from tests.piitemplates import make_docs  # noqa: E402

STRUCTURED = list(STRUCTURED_TYPES)


def recall(r: dict, labels: list[str]) -> tuple[float, int]:
    n = sum(r["labels"].get(lab, [0, 0])[0] for lab in labels)
    leaked = sum(r["labels"].get(lab, [0, 0])[1] for lab in labels)
    return (1 - leaked / n if n else float("nan")), n


def misses(docs, predicted, limit: int) -> None:
    """Leaked values per type, with their sentence, then non-PII words removed (for tune only: rules
    are chosen on these)."""
    shown: dict[str, int] = {}
    for doc, pred in zip(docs, predicted):
        covered = bytearray(len(doc.text) + 1)
        for a, b, _ in pred:
            covered[a:b] = b"\x01" * (b - a)
        for a, b, lab in doc.spans:
            if _leaked(doc.text, a, b, lab, covered) and shown.get(lab, 0) < limit:
                shown[lab] = shown.get(lab, 0) + 1
                found = [(doc.text[x:y], t) for x, y, t in pred]
                print(f"  {lab:13} {doc.text[a:b]!r:40} in {doc.text!r:.160} found {found}")
    for doc, pred in zip(docs, predicted):
        extra = [(doc.text[a:b], t) for a, b, t in pred if not any(a < y and b > x for x, y, _ in doc.spans)]
        if extra and limit:
            print(f"  over: {extra} in {doc.text!r:.160}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-template", type=int, default=10)
    ap.add_argument("--split", choices=["tune", "heldout", "both"], default="both")
    ap.add_argument("--misses", type=int, default=0)
    args = ap.parse_args()
    dets = {"default": Detector(tuple(DEFAULT_ENTITIES)), "all types": Detector(ALL_TYPES)}
    engine = plain_presidio()
    for split in ("tune", "heldout") if args.split == "both" else (args.split,):
        docs, unclaimed = make_docs(split, args.per_template)
        texts = [d.text for d in docs]
        print(f"\n## {split}: {len(docs)} sentences from {len(docs) // args.per_template} templates")
        for config, det in dets.items():
            entities = PLAIN_DEFAULT if config == "default" else PLAIN_ENTITIES
            ours, t_ours = run_ours(det, texts)
            plain, t_plain = run_plain(engine, texts, entities)
            o, p = score(docs, ours, unclaimed), score(docs, plain, unclaimed)
            labels = [lab for lab in PII if lab in det.entities]
            print(f"\n### {split}, {config}")
            print(f"{'type':15} {'n':>4} | {'gristmill':>9} {'presidio':>8} {'delta':>6}")
            for lab in [*labels, "structured"]:
                group = STRUCTURED if lab == "structured" else [lab]
                (ro, n), (rp, _) = recall(o, group), recall(p, group)
                if n:
                    print(f"{lab:15} {n:4} | {ro:9.3f} {rp:8.3f} {ro - rp:+6.3f}")
            share = lambda r: f"{r['neg_removed'] / max(r['neg_words'], 1):.2%}"  # noqa: E731
            print(f"non-PII words removed: gristmill {share(o)}, presidio {share(p)} (of {o['neg_words']})")
            print(f"docs/s: gristmill {len(docs) / t_ours:.0f}, presidio {len(docs) / t_plain:.0f} "
                  f"-> {t_plain / t_ours:.1f}x (one process)")
            if args.misses and split == "tune" and config == "all types":
                misses(docs, ours, args.misses)


if __name__ == "__main__":
    if os.environ.get("PYTHONHASHSEED") != "0":  # as benchmarks/pii.py: the same figures every run
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    main()
