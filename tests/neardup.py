"""Near-duplicates built from real text, for tests and benchmarks of the dedup steps: real documents
of the bundled sample, copies with controlled edits, exact similar pairs (the truth), pair scores, and
a global step's decisions made in memory the way the engine makes them.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from curate.dedup.minhash import normalize
from curate.engine.schema import CORE_SCHEMA
from curate.engine.step import GlobalStep
from curate.engine.task import key_range
from tests.conftest import SAMPLE

WORD = re.compile(r"[a-z0-9\u0080-\U0010ffff]+")  # the words of normalized text, as curate.dedup.minhash.words cuts them


@lru_cache(maxsize=1)
def real_documents() -> tuple[str, ...]:
    """Real third-party documents of the bundled sample: ABC news stories, Botchan's chapters,
    Wikipedia sections of 80 words or more, and Debian copyright files (many real near-copies)."""
    docs = []
    for f in sorted(SAMPLE.glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for d in map(json.loads, fh):
                if d["source"] == "web/wikipedia":
                    docs += [s for s in d["text"].split("\n\n") if len(s.split()) >= 80]
                elif d["source"] != "code/python-stdlib":
                    docs.append(d["text"][:30_000])
    return tuple(docs)


def edited(text: str, rng: random.Random, rate: float, filler: list[str], kind: str) -> str:
    """A copy of `text` with controlled edits: `words` (deletions, insertions, substitutions and
    swaps of words, each at rate/4), `truncate` (the last `rate` of the words cut), `boilerplate`
    (a header and footer of real lines from `filler`), `rewrap` (new line breaks: the same shingles)."""
    words = text.split()
    if kind == "truncate":
        return " ".join(words[:max(1, round(len(words) * (1 - rate)))])
    if kind == "boilerplate":
        return " ".join(filler[:int(rate * 40)]) + "\n" + text + "\n" + " ".join(filler[-int(rate * 40):])
    if kind == "rewrap":
        return "\n".join(" ".join(words[i:i + rng.randint(5, 15)]) for i in range(0, len(words), 10))
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 4:
            continue
        out += [w, rng.choice(filler)] if r < rate / 2 else [rng.choice(filler)] if r < 3 * rate / 4 else [w]
    for _ in range(int(len(out) * rate / 4)):
        i = rng.randrange(max(len(out) - 1, 1))
        out[i:i + 2] = out[i:i + 2][::-1]
    return " ".join(out)


EDITS = [("words", 0.0), ("words", 0.01), ("words", 0.02), ("words", 0.03), ("words", 0.05), ("words", 0.1),
         ("truncate", 0.1), ("truncate", 0.3), ("boilerplate", 0.5), ("rewrap", 0)]


def near_duplicate_corpus(bases: list[str], seed: int = 0, copies: int = 2) -> list[str]:
    """The bases, each followed by up to `copies` edited copies (edits drawn from EDITS)."""
    rng = random.Random(seed)
    filler = " ".join(bases[::7]).split()
    texts = []
    for base in bases:
        texts.append(base)
        texts += [edited(base, rng, rate, filler, kind) for kind, rate in rng.sample(EDITS, rng.randint(0, copies))]
    return texts


def shingle_sets(texts: list[str], ngram: int = 5) -> list[set[str]]:
    """Each text's word n-grams as strings, the words cut from gristmill's normalized text."""
    sets = []
    for norm in normalize(pa.array(texts, pa.large_string()), False).to_pylist():
        words = WORD.findall(norm)
        sets.append({" ".join(words[k:k + ngram]) for k in range(len(words) - ngram + 1)})
    return sets


def similar_pairs(sets: list[set[str]], threshold: float) -> dict[tuple[int, int], float]:
    """Every pair (i < j) whose exact Jaccard is >= threshold. Prefix filtering: two such sets share
    one of their len - ceil(threshold * len) + 1 rarest shingles, so only those are indexed."""
    freq = Counter(s for x in sets for s in x)
    index: dict[str, list[int]] = defaultdict(list)
    found = {}
    for i, x in enumerate(sets):
        prefix = sorted(x, key=lambda s: (freq[s], s))[:len(x) - math.ceil(threshold * len(x)) + 1]
        for j in sorted({j for s in prefix for j in index[s]}):
            shared = len(x & sets[j])
            jaccard = shared / (len(x) + len(sets[j]) - shared)
            if jaccard >= threshold:
                found[(j, i)] = jaccard
        for s in prefix:
            index[s].append(i)
    return found


def clusters(n: int, pairs) -> np.ndarray:
    """Connected components of `pairs` over n documents."""
    a, b = (np.array([p[k] for p in pairs], dtype=np.int64) for k in (0, 1))
    return connected_components(csr_matrix((np.ones(len(a), bool), (a, b)), shape=(n, n)), directed=False)[1]


def co_clustered(labels: np.ndarray) -> set[tuple[int, int]]:
    groups = defaultdict(list)
    for i, c in enumerate(labels):
        groups[c].append(i)
    return {(a, b) for g in groups.values() if len(g) > 1 for k, a in enumerate(g) for b in g[k + 1:]}


def pair_scores(truth: set, found: set) -> tuple[float, float]:
    """Precision and recall of `found` pairs against `truth` pairs."""
    hit = len(truth & found)
    return hit / max(len(found), 1), hit / max(len(truth), 1)


def batch_of(texts: list[str], first: int = 0, **columns) -> pa.RecordBatch:
    """A batch of documents with ids doc<first>, doc<first + 1>, ..."""
    n = len(texts)
    data = {"id": [f"doc{first + i}" for i in range(n)], "text": texts, "source": ["s"] * n, "url": [None] * n,
            "origin": [None] * n}
    schema = CORE_SCHEMA
    for name, values in columns.items():
        data[name] = values
        schema = schema.append(pa.field(name, pa.array(values).type))
    return pa.RecordBatch.from_pydict(data, schema=schema)



class BatchDocuments:
    """The engine's documents by (task, row) for tasks of one batch each."""

    def __init__(self, batches: list[pa.RecordBatch]):
        self.batches = batches

    def take(self, task: int, rows: np.ndarray, column: str) -> pa.Array:
        return self.batches[task].column(column).take(pa.array(rows))


def decisions(step: GlobalStep, batches: list[pa.RecordBatch], parts: int = 1) -> pa.Table:
    """A global step's decisions over tasks of one batch each, as the engine makes them: keys per
    task, reduced in `parts` ranges of partition keys, decided once."""
    keys = []
    for b in batches:
        keys.append(step.keys(b))
        step.take_counts()  # as the engine takes them after every batch
    keys = pa.concat_tables([k.append_column("task", pa.repeat(pa.scalar(t, pa.int32()), k.num_rows)) for t, k in enumerate(keys)])
    findings = []
    for part in range(parts):
        lo, hi = key_range(part, parts)
        key = keys.column("partition_key")
        findings.append(step.reduce(keys.filter(pc.and_(pc.greater_equal(key, lo), pc.less(key, hi))),
                                    BatchDocuments(batches)))
    return step.decide(pa.concat_tables(findings))
