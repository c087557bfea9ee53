"""Worker start-up of the Common Crawl pipeline: the Gopher word splitter's spaCy rules come from a
per-version cache, so a worker that finds them never imports spaCy (nor torch through thinc), and the
cached rules split the bundled real text exactly as the rules built from spaCy do; the language-id
model's arrays come from the same cache, memory-mapped, and classify exactly as py3langid's own load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from curate.filters.language import MODEL_ARRAYS, identifier
from curate.filters.words import WordSplitter
from tests.test_steps import sample_texts

CHILD = """
import json, sys
from curate.filters.words import splitter
texts = json.load(sys.stdin)
print(json.dumps({"words": [splitter("en").words(t) for t in texts],
                  "imported": [m for m in ("spacy", "thinc", "torch") if m in sys.modules]}))
"""


def test_cached_rules_split_like_spacy_without_importing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = WordSplitter("en")  # no cache yet: built from spaCy, and written
    cached = list((tmp_path / "gristmill").glob("spacy-*-tokenizer-en.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["specials"]["don't"] == ["do", "n't"]
    texts = sample_texts()
    done = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(texts), capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)}, check=True)
    child = json.loads(done.stdout)
    assert child["imported"] == []
    assert child["words"] == [built.words(t) for t in texts]


def test_cached_language_model_classifies_like_py3langid(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = identifier()  # no cache yet: decompressed, then written
    assert len(list((tmp_path / "gristmill").glob("py3langid-*/*.npy"))) == len(MODEL_ARRAYS)
    cached = identifier()
    assert isinstance(cached.nb_ptc, np.memmap)
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    texts = [t[:5000] for t in sample_texts()]
    expected = [reference.classify(t) for t in texts]
    assert [first.classify(t) for t in texts] == expected
    assert [cached.classify(t) for t in texts] == expected
