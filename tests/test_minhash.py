"""dedup.minhash on near-duplicates built from real text: signatures equal datasketch's, pairs found
against exact-Jaccard truth, keep rules, added columns, counts, determinism and bad input.

The corpus builders (tests/neardup.py) are also what benchmarks/minhash.py measures on.
"""

from __future__ import annotations

import gzip
import json
import random
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

from curate.dedup.minhash import (
    MinHashDedup,
    MinHashParams,
    normalize,
    shingle_hash,
    shingle_hashes,
    signatures,
)
from curate.engine.plan import load_plan
from curate.engine.step import Filter, FilterResult, Params, register
from pipelines.cli import main
from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError
from tests.conftest import SAMPLE
from tests.neardup import (
    WORD,
    batch_of,
    clusters,
    co_clustered,
    decisions,
    edited,
    near_duplicate_corpus,
    pair_scores,
    real_documents,
    shingle_sets,
    similar_pairs,
)

CJK = Path(sysconfig.get_paths()["stdlib"]) / "test" / "cjkencodings"


def built(**params) -> MinHashDedup:
    step = MinHashDedup(MinHashParams(**params))
    step.setup()
    return step


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


@pytest.mark.parametrize("verify, least", [("exact", 0.98), ("estimate", 0.92)])
def test_pairs_against_exact_jaccard(verify, least):
    """Edited copies (word edits, truncation, boilerplate, re-wrapping) of real documents, and the real
    near-copies among them (Debian copyright files, news stories), in two tasks: the clusters found
    hold the pairs of the clusters of exact Jaccard >= 0.8, whatever the reduce ranges. Verified
    exactly, every removed document has a partner at >= 0.8; by the estimate alone, pairs within
    ~0.05 of 0.8 (128 permutations: standard deviation ~0.035) go either way."""
    texts, truth = edited_corpus()
    n, half = len(texts), len(texts) // 2
    tasks = [batch_of(texts[:half]), batch_of(texts[half:], half)]
    dec = decisions(built(verify=verify), tasks)
    assert dec.equals(decisions(built(verify=verify), tasks, parts=3))
    found = defaultdict(list)
    for d in dec.to_pylist():
        found[d["dup_cluster"]].append(d["task"] * half + d["row"])
    found_pairs = {(a, b) for g in found.values() for a in g for b in g if a < b}
    precision, recall = pair_scores(co_clustered(clusters(n, truth)), found_pairs)
    assert precision >= least and recall >= least, (precision, recall)
    best = defaultdict(float)  # each document's highest exact Jaccard with another, where >= 0.7
    for (i, j), jaccard in similar_pairs(shingle_sets(texts), 0.7).items():
        best[i], best[j] = max(best[i], jaccard), max(best[j], jaccard)
    best = [best[d["task"] * half + d["row"]] for d in dec.to_pylist() if d["reason"]]
    distinct = sum(b < 0.8 for b in best)
    assert min(best) >= 0.7 and distinct <= (0 if verify == "exact" else 0.03 * len(best))


def test_verification_keeps_distinct_documents_that_share_buckets():
    texts, truth = edited_corpus()
    verified, unverified = (removed(decisions(built(verify=v, bands=32, rows=4), [batch_of(texts)]))
                            for v in ("exact", "none"))
    assert len(unverified) > len(verified) * 1.3  # 32 bands of 4 rows: many candidate pairs below 0.8
    partnered = {i for pair in truth for i in pair}
    assert set(verified) <= partnered


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
    return {"input": {"reader": "jsonl", "paths": [inputs], "source_field": "source", "batch_size": 32},
            "steps": steps or [{"dedup.minhash": {"keep": "longest"}}],
            "output": {"path": str(out), "keep_rejected": 5, "max_shard_mb": 0.1},
            "executor": {"kind": "local", "workers": workers}}


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
    # the pairs read back from the stage's shards (several row groups) are the ones decided in memory
    files = [texts[f::3] for f in range(3)]
    removed_in_memory = {
        verify: Counter(files[d["task"]][d["row"]] for d in decisions(built(keep="longest", verify=verify),
                                                                       [batch_of(t) for t in files]).to_pylist()
                        if d["reason"])
        for verify in ("exact", "estimate")}
    assert removed_in_memory["exact"] != removed_in_memory["estimate"]  # some pairs were read back
    assert Counter(texts) - Counter(table.column("text").to_pylist()) == removed_in_memory["exact"]


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
