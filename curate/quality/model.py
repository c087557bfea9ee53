"""A trained quality model: found by name or path, checked (exists, is fastText, has a card whose
normalization this code knows) before any data is read, loaded once per worker, scored in batches.

`model:` is a local path to a fastText `.bin`/`.ftz`, or the name of a model `gristmill quality train`
put in the cache (`reference` is the one pipelines/quality_train.yaml builds). Nothing is downloaded.
The card (`card.json` beside the model) says how to turn label probabilities into `quality_score`:
the summed probability of the positive labels, or the expected value of the labels' values scaled to
[0, 1]. Scoring is one fastText call per batch (`predict` on a list of lines).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import normalize as norm
from .config import model_folder

FASTTEXT_MAGIC = 793712314  # the first int32 of every fastText model file (.bin and .ftz)
CARD = "card.json"


class ModelError(ValueError):
    """A model path or card that cannot be used; the message says why and what to do."""


def resolve(model: str) -> Path:
    """A model path: `model` itself, or a cached model's `model.bin` where `model` is a bare name."""
    if "/" not in model and os.sep not in model and not model.endswith((".bin", ".ftz")):
        return model_folder(model) / "model.bin"
    return Path(os.path.expanduser(model))


def read_card(model: str) -> tuple[Path, dict]:
    """The model's path and card, checked without loading the model; ModelError if unusable."""
    path = resolve(model)
    if not path.is_file():
        hint = (" (build it with `gristmill quality train pipelines/quality_train.yaml`)" if path.parent ==
                model_folder(model) else "")
        raise ModelError(f"model {model!r}: {path} does not exist{hint}")
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or struct.unpack("<i", head)[0] != FASTTEXT_MAGIC:
        raise ModelError(f"model {model!r}: {path} is not a fastText model (wrong file header)")
    card_path = path.parent / CARD
    if not card_path.is_file():
        raise ModelError(f"model {model!r}: no model card at {card_path}; train models with `gristmill quality "
                         "train`, which writes the card that says the model's normalization and labels")
    try:
        card = json.loads(card_path.read_text())
        normalization = card["normalization"]["name"]
        card["labels"], card["score"]  # noqa: B018 - present
    except (ValueError, KeyError, TypeError) as err:
        raise ModelError(f"model {model!r}: {card_path} is not a quality model card ({err!r})") from None
    if normalization not in norm.KNOWN:
        raise ModelError(f"model {model!r} was trained with normalization {normalization!r}; this gristmill "
                         f"scores with {', '.join(norm.KNOWN)}: retrain it, or score with the gristmill that made it")
    return path, card


class QualityModel:
    """A loaded model and its card: `score(texts)` -> (quality_score, per-label probabilities)."""

    def __init__(self, model: str):
        import fasttext

        path, self.card = read_card(model)
        fasttext.FastText.eprint = lambda *a, **k: None  # its load_model warning on stderr, once per worker
        try:
            self.model = fasttext.load_model(str(path))
        except ValueError as err:
            raise ModelError(f"model {model!r}: fastText cannot load {path}: {err}") from None
        self.labels = list(self.card["labels"])
        found = [lab.removeprefix("__label__") for lab in self.model.labels]
        if sorted(found) != sorted(self.labels):
            raise ModelError(f"model {model!r}: its labels {found} differ from its card's {self.labels}")
        self.index = {f"__label__{lab}": i for i, lab in enumerate(self.labels)}
        score = self.card["score"]
        if "positive" in score:
            self.weights = np.array([lab in score["positive"] for lab in self.labels], dtype=np.float64)
        else:
            values = np.array([score["values"][lab] for lab in self.labels], dtype=np.float64)
            lo, hi = values.min(), values.max()
            self.weights = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
        self.max_chars = self.card["normalization"].get("max_chars")

    def probabilities(self, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """(n x labels) probabilities in card order, and a mask of the texts that had words to score
        (empty or null texts get zeros)."""
        lines = norm.normalize(texts, self.max_chars)
        scored = pc.fill_null(pc.greater(pc.utf8_length(lines), 0), False).to_numpy(zero_copy_only=False)
        probs = np.zeros((len(lines), len(self.labels)), dtype=np.float64)
        todo = np.flatnonzero(scored)
        if len(todo):
            got = lines.take(pa.array(todo)).to_pylist() if len(todo) < len(lines) else lines.to_pylist()
            labels, values = self.model.predict(got, k=-1)  # one C++ call for the whole batch
            sizes = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
            rows = np.repeat(todo, sizes)
            cols = np.fromiter((self.index[lab] for per_doc in labels for lab in per_doc), dtype=np.int64,
                               count=int(sizes.sum()))
            probs[rows, cols] = np.concatenate(values) if values else []
        return np.clip(probs, 0.0, 1.0), scored

    def score(self, texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """quality_score per text (NaN where there was nothing to score), probabilities, the scored mask."""
        probs, scored = self.probabilities(texts)
        scores = np.clip(probs @ self.weights, 0.0, 1.0)
        scores[~scored] = np.nan
        return scores, probs, scored
