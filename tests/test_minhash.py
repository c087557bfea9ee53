"""dedup.minhash on near-duplicates built from real text: signatures equal datasketch's, pairs found
against exact-Jaccard truth, keep rules, added columns, counts, determinism and bad input.

The corpus builders here (real documents, controlled edits, exact similar pairs) are also what
benchmarks/minhash.py measures on.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import sysconfig
import unicodedata
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from curate.dedup.minhash import (
    MinHashDedup,
    MinHashParams,
    normalize,
    shingle_hash,
    shingle_hashes,
    signatures,
)
from curate.engine.plan import load_plan
from curate.engine.schema import CORE_SCHEMA
from curate.engine.step import Filter, FilterResult, GlobalStep, Params, register
from curate.engine.task import key_range
from pipelines.cli import main
from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError
from tests.conftest import SAMPLE

WORD = re.compile(r"[a-z0-9\u0080-\U0010ffff]+")  # the words of normalized text, as curate.dedup.minhash.words cuts them
CJK = Path(sysconfig.get_paths()["stdlib"]) / "test" / "cjkencodings"


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


def built(**params) -> MinHashDedup:
    step = MinHashDedup(MinHashParams(**params))
    step.setup()
    return step


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
        findings.append(step.reduce(keys.filter(pc.and_(pc.greater_equal(key, lo), pc.less(key, hi)))))
    return step.decide(pa.concat_tables(findings))


def removed(table: pa.Table) -> dict[int, str]:
    """Row -> reason of the dropped rows of one-task decisions."""
    return {d["row"]: d["reason"] for d in table.to_pylist() if d["reason"]}


def python_shingles(texts: list[str], ngram: int = 5, fold_digits: bool = False) -> list[list[bytes]]:
    """Each text's shingles in order (repeats included), in plain Python from the normalized text."""
    out = []
    for norm in normalize(pa.array(texts, pa.large_string()), fold_digits).to_pylist():
        words = WORD.findall(norm)
        out.append([" ".join(words[k:k + ngram]).encode() for k in range(len(words) - ngram + 1)])
    return out


def cjk_texts() -> list[str]:
    """Real Chinese, Japanese and Korean text that CPython ships for its codec tests (PSF licence)."""
    if not CJK.is_dir():
        pytest.skip(f"{CJK} (CPython's test data) is not on this machine")
    return [(CJK / f"{name}-utf8.txt").read_text("utf-8") for name in ("gb2312", "euc_jp", "cp949")]


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (64, 7)])
def test_signatures_equal_datasketch_minhash(num_perm, seed):
    texts = list(real_documents()[:40:2]) + cjk_texts() + ["", "one", "Two words, no five-gram."]
    hashes, first = shingle_hashes(pa.array(texts, pa.large_string()), 5, False)
    step = built(num_perm=num_perm, seed=seed)
    sig = signatures(hashes, first, step.permutations)
    for i, shingles in enumerate(python_shingles(texts)):
        assert hashes[first[i]:first[i + 1]].tolist() == [shingle_hash(s) for s in shingles]
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
        reference.update_batch(shingles)
        assert np.array_equal(sig[i], reference.hashvalues), i


def test_text_is_read_folded_and_scripts_without_spaces_by_characters():
    def hashes(texts, fold_digits=False):
        h, first = shingle_hashes(pa.array(texts, pa.large_string()), 3, fold_digits)
        return [h[first[i]:first[i + 1]].tolist() for i in range(len(texts))]

    same = hashes(["The  QUICK brown—fox, “jumps”\n over", "the quick brown fox jumps over"])
    assert same[0] == same[1] and len(same[0]) == 4
    years = ["In 1998 it rained", "In 2024 it rained"]
    assert hashes(years)[0] != hashes(years)[1] and hashes(years, True)[0] == hashes(years, True)[1]
    chinese = cjk_texts()[0].split("\n")[0]  # "Python" then Han characters and punctuation, no spaces
    han = sum(unicodedata.name(c, "").startswith("CJK UNIFIED") for c in chinese)
    assert len(hashes([chinese])[0]) == 1 + han - 2  # a shingle of 3 at every word: "python", then each character


def test_hashes_do_not_depend_on_the_chunk_size(monkeypatch):
    """Spans are hashed CHUNK values at a time, a longer one piece by piece: the same hashes."""
    from curate.dedup import lines, minhash

    one_line = " ".join(d.replace("\n", " ") for d in real_documents()[:30])  # more words than a CHUNK of 1000
    texts = pa.array([one_line, *real_documents()[30:60]], pa.large_string())
    before = shingle_hashes(texts, 5, False), lines.line_hashes(pc.split_pattern(texts, "\n").flatten(), True)
    monkeypatch.setattr(minhash, "CHUNK", 1000)
    after = shingle_hashes(texts, 5, False), lines.line_hashes(pc.split_pattern(texts, "\n").flatten(), True)
    assert all(np.array_equal(x, y) for b, a in zip(before, after) for x, y in zip(b, a))


def test_near_duplicates_of_scripts_without_spaces_are_found():
    texts = cjk_texts()
    chinese = texts[0]
    copy = chinese[:40] + chinese[41:]  # one character fewer
    dec = decisions(built(), [batch_of([chinese, copy, *texts[1:]])])
    assert removed(dec) == {1: "near_duplicate_of:doc0"}


@lru_cache(maxsize=1)
def edited_corpus() -> tuple[list[str], dict[tuple[int, int], float]]:
    texts = near_duplicate_corpus(list(real_documents()[:300]), seed=1, copies=3)
    return texts, similar_pairs(shingle_sets(texts), 0.8)


def test_pairs_against_exact_jaccard():
    """Edited copies (word edits, truncation, boilerplate, re-wrapping) of real documents, and the real
    near-copies among them (Debian copyright files, news stories), in two tasks: the clusters found
    hold the pairs of the clusters of exact Jaccard >= 0.8 (errors: pairs within ~0.05 of 0.8, where
    128 permutations estimate with a standard deviation of ~0.035), whatever the reduce ranges."""
    texts, truth = edited_corpus()
    n, half = len(texts), len(texts) // 2
    tasks = [batch_of(texts[:half]), batch_of(texts[half:], half)]
    dec = decisions(built(), tasks)
    assert dec.equals(decisions(built(), tasks, parts=3))
    found = defaultdict(list)
    for d in dec.to_pylist():
        found[d["dup_cluster"]].append(d["task"] * half + d["row"])
    found_pairs = {(a, b) for g in found.values() for a in g for b in g if a < b}
    precision, recall = pair_scores(co_clustered(clusters(n, truth)), found_pairs)
    assert precision >= 0.94 and recall >= 0.92, (precision, recall)
    best = defaultdict(float)  # each document's highest exact Jaccard with another, where >= 0.7
    for (i, j), jaccard in similar_pairs(shingle_sets(texts), 0.7).items():
        best[i], best[j] = max(best[i], jaccard), max(best[j], jaccard)
    best = [best[d["task"] * half + d["row"]] for d in dec.to_pylist() if d["reason"]]
    assert min(best) >= 0.7 and sum(b < 0.8 for b in best) <= 0.03 * len(best)  # no distinct document removed


def test_verification_keeps_distinct_documents_that_share_buckets():
    texts, truth = edited_corpus()
    verified, unverified = (removed(decisions(built(verify=v, bands=32, rows=4), [batch_of(texts)])) for v in (True, False))
    assert len(unverified) > len(verified) * 1.3  # 32 bands of 4 rows: many candidate pairs below 0.8
    partnered = {i for pair in truth for i in pair}
    assert len(set(verified) - partnered) <= 0.03 * len(verified)


def family(seed: int = 3) -> list[str]:
    """A real document and two edited copies: shorter (truncated) and longer (boilerplate)."""
    base = real_documents()[5]
    rng = random.Random(seed)
    filler = " ".join(real_documents()[100:110]).split()
    return [edited(base, rng, 0.05, filler, "truncate"), base, edited(base, rng, 0.2, filler, "boilerplate")]


@pytest.mark.parametrize("keep, column, kept", [("first", None, 0), ("longest", None, 2), ("highest", "quality", 1)])
def test_keep_rules(keep, column, kept):
    texts = family() + list(real_documents()[200:203])
    batch = batch_of(texts, quality=[0.2, 0.9, None, 0.5, 0.1, 0.3])
    dec = {d["row"]: d for d in decisions(built(keep=keep, column=column), [batch]).to_pylist()}
    assert set(dec) == {0, 1, 2}
    assert dec[kept]["reason"] is None
    assert all(d["reason"] == f"near_duplicate_of:doc{kept}" for r, d in dec.items() if r != kept)
    assert all(d["dup_cluster"] == f"doc{kept}" and d["dup_cluster_size"] == 3 for d in dec.values())


def test_keep_ties_go_to_the_first_document_and_a_missing_column_is_an_error():
    texts = family()
    same = decisions(built(keep="highest", column="quality"), [batch_of(texts, quality=[0.5, 0.5, 0.5])])
    assert removed(same) == {1: "near_duplicate_of:doc0", 2: "near_duplicate_of:doc0"}
    with pytest.raises(ValueError, match="column 'quality', which the documents do not have"):
        built(keep="highest", column="quality").keys(batch_of(texts))


@pytest.mark.parametrize("params, error", [({"bands": 4}, "both bands and rows"),
                                           ({"bands": 20, "rows": 8}, "exceeds num_perm"),
                                           ({"keep": "highest"}, "keep: highest needs column"),
                                           ({"column": "q"}, "keep: highest needs column")])
def test_bad_params_are_config_errors(params, error, tmp_path, pipeline, sample):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"dedup.minhash": params}]})
    assert main(["validate", str(path)]) == 2
    with pytest.raises(ConfigError, match=error):
        load_plan(str(path))


def test_bad_input_is_counted_and_kept():
    """Empty, blank, one-word and null documents have no shingles: counted, kept, never clustered."""
    texts = ["", "   \n ", "word", "three short words", None, *family()]
    step = built()
    keys = step.keys(batch_of(texts))
    assert step.take_counts()["no_shingles"].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert set(keys.column("row").to_pylist()) == {5, 6, 7}
    assert removed(decisions(built(), [batch_of(texts)])) == {6: "near_duplicate_of:doc5", 7: "near_duplicate_of:doc5"}


def test_one_cluster_of_everything():
    base = real_documents()[7]
    rng = random.Random(0)
    filler = base.split()
    texts = [base] + [edited(base, rng, 0.003, filler, "words") for _ in range(299)]  # J > 0.9 with each other
    dec = decisions(built(), [batch_of(texts[:150]), batch_of(texts[150:], 150)], parts=2).to_pylist()
    assert len(dec) == 300 and sum(d["reason"] is None for d in dec) == 1
    assert {d["dup_cluster"] for d in dec} == {"doc0"} and {d["dup_cluster_size"] for d in dec} == {300}


def test_a_ten_megabyte_document():
    docs = [json.loads(line)["text"] for f in sorted(SAMPLE.glob("*.jsonl.gz")) for line in gzip.open(f, "rt")]
    huge = "\n".join(docs)[:10 << 20]
    hashes, first = shingle_hashes(pa.array([huge, docs[0]], pa.large_string()), 5, False)
    assert first[1] > 1_000_000  # every shingle of the 10 MB
    step = built()
    whole = signatures(hashes, first, step.permutations)[0]
    halves = signatures(hashes[:first[1]], np.array([0, first[1] // 2, first[1]]), step.permutations)
    assert np.array_equal(whole, halves.min(axis=0))  # taken BLOCK shingles at a time, it is the min of all
    assert removed(decisions(step, [batch_of([huge, huge + " and one more line of words at the end"])])) == {
        1: "near_duplicate_of:doc0"}


def write_inputs(folder: Path, texts: list[str], files: int = 3) -> str:
    """The texts as `files` JSONL files (ids d<i>, sources src/<i % 2>); returns their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        with gzip.open(folder / f"part{f}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for i in range(f, len(texts), files):
                fh.write(json.dumps({"id": f"d{i}", "text": texts[i], "source": f"src/{i % 2}"}) + "\n")
    return f"{folder}/*.jsonl.gz"


def dedup_config(inputs: str, out: Path, workers: int, steps: list | None = None) -> dict:
    return {"input": {"reader": "jsonl", "paths": [inputs], "source_field": "source"},
            "steps": steps or [{"dedup.minhash": {"keep": "longest"}}],
            "output": {"path": str(out), "keep_rejected": 5}, "executor": {"kind": "local", "workers": workers}}


def output_of(out: Path) -> tuple[dict[str, bytes], pa.Table]:
    shards = sorted(out.glob("part-*.parquet"))
    return {p.name: p.read_bytes() for p in shards}, pa.concat_tables([pq.read_table(p) for p in shards])


def test_run_counts_columns_and_any_worker_count(tmp_path, pipeline):
    texts = edited_corpus()[0][:240] + ["", "word", "   "]
    inputs = write_inputs(tmp_path / "in", texts)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        assert main(["run", str(pipeline(dedup_config(inputs, out, workers), f"w{workers}.yaml"))]) == 0
        outputs.append(output_of(out))
    assert outputs[0][0] == outputs[1][0]
    table = outputs[0][1]
    manifest = RunManifest.load(tmp_path / "out1" / "manifest.json")
    step = manifest.steps[0]
    assert step.counters == {"no_shingles": 3}
    assert sum(c.counters.get("no_shingles", 0) for c in step.sources.values()) == 3
    dropped = sum(step.removed.values())
    assert dropped > 40 and step.removed == {"near_duplicate_of": dropped}  # counted by kind; samples name the document
    assert table.num_rows == len(texts) - dropped == manifest.output.docs
    assert manifest.output.columns["dup_cluster"] == "string" and manifest.output.columns["dup_cluster_size"] == "int64"
    marked = table.filter(pc.is_valid(table.column("dup_cluster"))).to_pylist()
    assert marked and all(r["dup_cluster"] == r["id"] and r["dup_cluster_size"] >= 2 for r in marked)
    assert sum(r["dup_cluster_size"] - 1 for r in marked) == dropped
    rejected = (tmp_path / "out1" / "rejected" / "0-dedup.minhash.jsonl").read_text().splitlines()
    kept_ids = set(table.column("id").to_pylist())
    assert rejected and all(json.loads(r)["reason"].removeprefix("near_duplicate_of:") in kept_ids for r in rejected)


class CrashParams(Params):
    flag: str


@register("test.crash_once")
class CrashOnce(Filter):
    """Fails the first task that sees it while `flag` exists (deleting it): a run killed mid-stage."""

    Params = CrashParams

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        flag = Path(self.params.flag)
        if flag.exists():
            flag.unlink()
            raise RuntimeError("crashed on purpose")
        return FilterResult(np.ones(batch.num_rows, dtype=bool), np.full(batch.num_rows, None, dtype=object))


def test_a_crashed_run_resumes_from_the_decisions(tmp_path, pipeline):
    inputs = write_inputs(tmp_path / "in", edited_corpus()[0][:240], files=4)
    flag = tmp_path / "flag"
    steps = [{"dedup.minhash": {}}, {"test.crash_once": {"flag": str(flag)}}]
    reference = tmp_path / "reference"
    assert main(["run", str(pipeline(dedup_config(inputs, reference, 1, steps), "ref.yaml"))]) == 0
    out = tmp_path / "out"
    path = pipeline(dedup_config(inputs, out, 1, steps))
    flag.touch()
    with pytest.raises(RuntimeError, match="crashed on purpose"):
        main(["run", str(path)])
    assert (out / "_work" / "stage-1" / "decision" / "_done.json").exists()
    assert main(["run", str(path)]) == 0
    assert output_of(out)[0] == output_of(reference)[0]
    assert "4 of 4 tasks already done" in (out / "run.log").read_text()
