"""Held-out metrics and the model card written beside every trained model (card.json + card.md).

Binary view for every model: a held-out document is positive if its label is one of `positive` (or
its value is above the middle of the values' range), and `quality_score` is ranked against that:
precision, recall and F1 at the threshold, ROC-AUC (ties counted half), a score histogram per side.
Multi-class models also get per-label precision/recall/F1 of the most probable label, and accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HISTOGRAM_BINS = 10


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Probability that a random positive outscores a random negative (Mann-Whitney, average ranks)."""
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return None
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(score)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2  # 1-based average rank of a tie group
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def metrics(y: np.ndarray, score: np.ndarray, labels: list[str], true: list[str], probs: np.ndarray,
            threshold: float = 0.5) -> dict:
    pred = score >= threshold
    out = {"docs": int(len(y)), "positives": int(y.sum()), "negatives": int((~y).sum()), "threshold": threshold,
           **prf(int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())),
           "roc_auc": None if (a := roc_auc(y, score)) is None else round(a, 4)}
    edges = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    out["histogram"] = {"edges": [round(e, 2) for e in edges.tolist()],
                        "positive": np.histogram(score[y], edges)[0].tolist(),
                        "negative": np.histogram(score[~y], edges)[0].tolist()}
    if len(labels) > 2:
        top = np.array(labels, dtype=object)[probs.argmax(axis=1)]
        truth = np.array(true, dtype=object)
        out["accuracy"] = round(float((top == truth).mean()), 4)
        out["per_label"] = {lab: prf(int(((top == lab) & (truth == lab)).sum()), int(((top == lab) & (truth != lab)).sum()),
                                     int(((top != lab) & (truth == lab)).sum())) for lab in labels}
    return out


def write(folder: Path, card: dict) -> None:
    (folder / "card.json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    if card.get("heldout"):
        (folder / "card.md").write_text(markdown(card))


def markdown(card: dict) -> str:
    h = card["heldout"]
    lines = [f"# Quality model card: {card['name']}", "",
             f"fastText supervised classifier, labels {', '.join(card['labels'])}; `quality_score` = "
             + (f"probability of {' + '.join(card['score']['positive'])}" if "positive" in card["score"]
                else "expected label value, scaled to [0, 1]") + ".", "",
             f"- model: `{card['model']['file']}` ({card['model']['bytes']:,} bytes, sha256 `{card['model']['sha256'][:16]}…`)",
             f"- normalization: `{card['normalization']['name']}`, first {card['normalization']['max_chars']} characters",
             f"- trained by gristmill {card['software']['gristmill']}, fasttext {card['software']['fasttext']}; "
             f"seed {card['seed']}, thread 1 (deterministic)", "",
             "## Held-out evaluation", "",
             f"{h['docs']} documents held out by id hash ({h['positives']} positive, {h['negatives']} negative).", "",
             "| precision | recall | F1 | ROC-AUC |", "| --- | --- | --- | --- |",
             f"| {h['precision']} | {h['recall']} | {h['f1']} | {h['roc_auc']} |", "",
             f"At threshold {h['threshold']}.", ""]
    if "per_label" in h:
        lines += [f"Most probable label accuracy: {h['accuracy']}", "", "| label | precision | recall | F1 |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {lab} | {m['precision']} | {m['recall']} | {m['f1']} |" for lab, m in h["per_label"].items()]
        lines.append("")
    hist = h["histogram"]
    lines += ["Score histogram (held-out):", "", "| score | positive | negative |", "| --- | --- | --- |"]
    lines += [f"| {a:.1f}-{b:.1f} | {p} | {n} |" for a, b, p, n in
              zip(hist["edges"], hist["edges"][1:], hist["positive"], hist["negative"])]
    lines += ["", "## Training data", "", "| source | label | docs used | files | bytes |", "| --- | --- | --- | --- | --- |"]
    for s in card["sources"]:
        lines.append(f"| {s['name']} | {s['label']} | {s['docs']} | {len(s['files'])} | {sum(f['bytes'] for f in s['files']):,} |")
    lines += ["", "Per-label documents (train / held-out): "
              + ", ".join(f"{lab} {n['train']} / {n['heldout']}" for lab, n in card["split"].items()), "",
              "## Parameters", "", "```json", json.dumps(card["params"], indent=2), "```", ""]
    if card.get("notes"):
        lines += ["## Limits and intended use", "", card["notes"].strip(), ""]
    lines += ["File hashes of every training input are in card.json (`sources[].files`).", ""]
    return "\n".join(lines)
