"""Quality classifier figures: held-out precision, recall, F1 and ROC-AUC of the reference classifier
(trained here by pipelines/quality_train.yaml, thread=1, deterministic), and scoring docs/s of
`filter.quality` against datatrove's `FastTextClassifierFilter` with the same model file on the same
documents, one process each, in the same run; plus how often their keep decisions agree.

filter.quality scores a batch (1,000 documents) with one fastText call on Arrow-normalized text, the
first `max_chars` (10k) characters as the model was trained; datatrove predicts each document in full,
one call each. The row "datatrove, 10k prefix" gives datatrove the same prefixes, so the speed-up is
shown apart from the truncation.

Run: .venv/bin/python benchmarks/quality.py [--copies 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import documents  # noqa: E402
from curate.filters.quality import QualityFilter, QualityParams  # noqa: E402
from curate.quality.train import train_file  # noqa: E402

BATCH = 1000


def ours(model: str, texts: list[str], rounds: int) -> tuple[float, np.ndarray]:
    step = QualityFilter(QualityParams(model=model, threshold=0.5))
    step.setup()
    batches = [pa.record_batch({"text": pa.array(texts[i:i + BATCH], pa.large_string())})
               for i in range(0, len(texts), BATCH)]
    best, keep = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        kept = []
        for b in batches:
            kept.append(step.keep(b).keep)
            step.take_counts()  # as the engine does after each batch
        keep = np.concatenate(kept)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, keep


def datatrove(model: str, texts: list[str], rounds: int) -> tuple[float, np.ndarray]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter

    filt = FastTextClassifierFilter(model, keep_labels=("hq", 0.5), newline_replacement=" ")
    filt.model  # noqa: B018 - load before timing, as filter.quality's setup does
    best, keep = float("inf"), None
    for _ in range(rounds):
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        keep = np.array([bool(filt.filter(d)) for d in docs])
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, keep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2, help="repeat the corpus to lengthen the timing")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds each; the best is reported")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = train_file(str(ROOT / "pipelines" / "quality_train.yaml"), [f"output={tmp}/reference"])
        card = json.loads((folder / "card.json").read_text())
        h = card["heldout"]
        print(f"reference classifier (pipelines/quality_train.yaml, trained in {time.perf_counter() - t0:.1f} s, "
              f"{card['model']['bytes'] / 1e6:.1f} MB)")
        print(f"  held-out: {h['docs']} docs ({h['positives']} hq / {h['negatives']} lq), threshold {h['threshold']}")
        print(f"  precision {h['precision']:.4f}  recall {h['recall']:.4f}  F1 {h['f1']:.4f}  "
              f"ROC-AUC {h['roc_auc']:.4f}   (target ROC-AUC >= 0.95)")
        model = str(folder / "model.bin")
        texts = [d["text"] for d in documents()] * args.copies
        mb = sum(len(t.encode()) for t in texts) / 1e6
        max_chars = card["normalization"]["max_chars"]
        longer = sum(len(t) > max_chars for t in texts) / len(texts)
        print(f"\nscoring {len(texts)} documents ({mb:.1f} MB; benchmarks/corpus.py x{args.copies}; "
              f"{longer:.0%} longer than {max_chars} chars), one process, best of {args.rounds}")
        ours_rate, ours_keep = ours(model, texts, args.rounds)
        dt_rate, dt_keep = datatrove(model, texts, args.rounds)
        dt_prefix_rate, dt_prefix_keep = datatrove(model, [t[:max_chars] for t in texts], args.rounds)
        print(f"  {'filter.quality (gristmill)':32s} {ours_rate:10,.0f} docs/s")
        print(f"  {'FastTextClassifierFilter':32s} {dt_rate:10,.0f} docs/s   gristmill {ours_rate / dt_rate:.2f}x "
              "(target >= 2x)")
        print(f"  {'datatrove, 10k prefix':32s} {dt_prefix_rate:10,.0f} docs/s   gristmill {ours_rate / dt_prefix_rate:.2f}x")
        print(f"  keep decisions at 0.5 agree: {(ours_keep == dt_keep).mean():.2%} with datatrove on full text, "
              f"{(ours_keep == dt_prefix_keep).mean():.2%} on the prefix (datatrove does not lowercase)")


if __name__ == "__main__":
    main()
