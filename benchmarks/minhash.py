"""dedup.minhash beside its peers, on near-duplicates built from real text (tests/neardup.py's
builders: edited copies of the bundled sample's documents, and the real near-copies among them).

1. Quality at Jaccard 0.8 against exact-Jaccard truth (every pair >= 0.8, found by prefix filtering):
   gristmill, datasketch MinHashLSH (+ union-find), datatrove's 4-stage MinHash (stages 1-3).
2. Text -> signature, documents/s on one core: gristmill (whole batches in numpy) vs datasketch
   `MinHash.bulk` and rensa (`digest_matrix_from_token_sets`, RAYON_NUM_THREADS=1), both fed Python
   word 5-grams; median of alternating runs, with and without making the shingles.
3. `gristmill run` of read -> dedup.minhash -> write at --docs documents (windows of real text and
   edited copies of them): wall time and peak RSS (all processes of the run together).

Run: python benchmarks/minhash.py [--docs 100000 1000000] [--skip-datatrove]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # rensa on one core, like the others

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import documents  # noqa: E402
from curate.dedup.minhash import MinHashDedup, MinHashParams, shingle_hashes, signatures  # noqa: E402
from tests.neardup import (  # noqa: E402
    EDITS,
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

WORD = re.compile(r"[^\W_]+")


def built(**params) -> MinHashDedup:
    step = MinHashDedup(MinHashParams(**params))
    step.setup()
    return step


def python_shingles(text: str, n: int = 5) -> list[str]:
    """Word 5-grams as a Python user would make them for datasketch or rensa."""
    words = WORD.findall(text.lower())
    return [" ".join(words[k:k + n]) for k in range(len(words) - n + 1)]


def scores(name: str, labels: np.ndarray, truth: dict, near: dict, best: np.ndarray) -> str:
    """One table row: pairs in the same cluster vs pairs of exact Jaccard >= 0.8 (direct; direct
    leaving out pairs in [0.75, 0.85), where 128 permutations cannot tell; via the truth's own
    clusters); documents removed (all but the first of a cluster) and how many of them have no other
    document at >= 0.8 (distinct) or even >= 0.7."""
    found = co_clustered(labels)
    direct = pair_scores(set(truth), found)
    clear = pair_scores({p for p, j in truth.items() if j >= 0.85}, {p for p in found if not 0.75 <= near.get(p, 0) < 0.85})
    cluster = pair_scores(co_clustered(clusters(len(labels), truth)), found)
    first = {}
    removed = [i for i, c in enumerate(labels) if first.setdefault(c, i) != i]
    distinct = sum(best[i] < 0.8 for i in removed)
    far = sum(best[i] < 0.7 for i in removed)
    return (f"| {name} | {direct[0]:.4f} | {direct[1]:.4f} | {clear[0]:.4f} | {clear[1]:.4f} | {cluster[0]:.4f} | "
            f"{cluster[1]:.4f} | {len(removed)} | "
            f"{distinct} | {far} |")


def gristmill_labels(texts: list[str], verify: str) -> np.ndarray:
    half = len(texts) // 2
    table = decisions(built(verify=verify), [batch_of(texts[:half]), batch_of(texts[half:], half)], parts=4).to_pylist()
    labels = np.arange(len(texts))
    for d in table:
        labels[d["task"] * half + d["row"]] = int(d["dup_cluster"].removeprefix("doc"))
    return labels


def datasketch_labels(texts: list[str]) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    sigs = MinHash.bulk([[s.encode() for s in python_shingles(t)] for t in texts], num_perm=128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    pairs = [(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j != i]
    return clusters(len(texts), pairs) if pairs else np.arange(len(texts))


def datatrove_labels(texts: list[str], work: Path) -> np.ndarray:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader

    inp = work / "dt-in"
    inp.mkdir(parents=True, exist_ok=True)
    with gzip.open(inp / "docs.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    config = MinhashConfig()  # datatrove's defaults: 5-grams, 14 buckets x 8 hashes
    stages = [
        (MinhashDedupSignature(output_folder=str(work / "sigs"), config=config), 1, True),
        (MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config),
         config.num_buckets, False),
        (MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config,
                             save_cluster_id=True), 1, False)]
    for step, tasks, read in stages:
        pipeline = [JsonlReader(str(inp)), step] if read else [step]
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, 2),
                              logging_dir=str(work / f"logs-{step.name}")).run()
    labels = np.arange(len(texts))
    path = work / "remove" / "000000.clusters"
    if path.exists():
        pairs = np.frombuffer(path.read_bytes(), "<u4").reshape(-1, 2)
        labels[pairs[:, 0]] = len(texts) + pairs[:, 1]
    return labels


def quality(bases: int, skip_datatrove: bool) -> None:
    texts = near_duplicate_corpus(list(real_documents()[:bases]), seed=0, copies=3)
    t0 = time.perf_counter()
    truth = similar_pairs(shingle_sets(texts), 0.8)
    near = similar_pairs(shingle_sets(texts), 0.7)
    best = np.zeros(len(texts))
    for (i, j), jac in near.items():
        best[i], best[j] = max(best[i], jac), max(best[j], jac)
    band = sum(0.75 <= j < 0.85 for j in near.values())
    print(f"\n## Quality at Jaccard 0.8: {len(texts)} documents ({bases} real ones + edited copies), "
          f"{len(truth)} pairs >= 0.8, {band} pairs in [0.75, 0.85) (truth in {time.perf_counter() - t0:.0f} s)\n")
    print("| method | pair precision | pair recall | P outside [0.75, 0.85) | R outside | cluster-pair precision | "
          "cluster-pair recall | removed | removed without a pair >= 0.8 | without one >= 0.7 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(scores("(exact-Jaccard truth's own clusters: the ceiling of any clustering)", clusters(len(texts), truth),
                 truth, near, best))
    for verify, shape in (("exact", "17x7"), ("estimate", "16x8")):
        t0 = time.perf_counter()
        labels = gristmill_labels(texts, verify)
        print(scores(f"gristmill dedup.minhash (128 perm, {shape}, verify: {verify}; {time.perf_counter() - t0:.1f} s)",
                     labels, truth, near, best))
    print(scores("datasketch MinHashLSH (128 perm, threshold 0.8: 9x13)", datasketch_labels(texts), truth, near, best))
    if not skip_datatrove:
        with tempfile.TemporaryDirectory() as work:
            t0 = time.perf_counter()
            labels = datatrove_labels(texts, Path(work))
            print(scores(f"datatrove 4-stage MinHash (112 perm, 14x8; {time.perf_counter() - t0:.0f} s)",
                         labels, truth, near, best))


def speed(count: int, repeats: int) -> None:
    import rensa
    from datasketch import MinHash

    docs = [d["text"] for d in documents() if d["source"] in ("web/wikipedia-sections", "news/abc", "web/wikipedia",
                                                                "books/gutenberg", "legal/licenses", "docs/changelog")]
    texts = random.Random(0).sample(docs, min(count, len(docs)))
    permutations = built().permutations
    shingled = [python_shingles(t) for t in texts]
    encoded = [[s.encode() for s in x] for x in shingled]

    def ours():
        for i in range(0, len(texts), 1000):
            signatures(*shingle_hashes(pa.array(texts[i:i + 1000], pa.large_string()), 5, False), permutations)

    runs = {"gristmill (text -> signature)": ours,
            "datasketch MinHash.bulk (text -> Python shingles -> signature)":
                lambda: MinHash.bulk([[s.encode() for s in python_shingles(t)] for t in texts], num_perm=128),
            "rensa RMinHash (text -> Python shingles -> signature)":
                lambda: rensa.RMinHash.digest_matrix_from_token_sets([python_shingles(t) for t in texts], 128, 1),
            "  python shingles alone": lambda: [python_shingles(t) for t in texts],
            "  datasketch MinHash.bulk, shingles given": lambda: MinHash.bulk(encoded, num_perm=128),
            "  rensa RMinHash, shingles given": lambda: rensa.RMinHash.digest_matrix_from_token_sets(shingled, 128, 1)}
    times = defaultdict(list)
    for _ in range(repeats):  # alternating, so a noisy neighbour hits every method alike
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rate = {name: len(texts) / statistics.median(t) for name, t in times.items()}
    print(f"\n## Text -> signature, one core: {len(texts)} real documents, "
          f"{sum(map(len, shingled)) / len(texts):.0f} shingles each, 128 permutations, median of {repeats}\n")
    print("| method | docs/s | gristmill's multiple |")
    print("|---|---|---|")
    base = rate["gristmill (text -> signature)"]
    for name, r in rate.items():
        print(f"| {name} | {r:,.0f} | {base / r:.2f}x |")


def window_corpus(folder: Path, docs: int, files: int) -> int:
    """`docs` documents as JSONL shards: 70% windows of 150 words (every 75th word) of real text (the
    bundled sample, stdlib modules, Debian changelogs and licences, English man pages), 30% edited
    copies of them (more when there are fewer windows). Returns the input's bytes and the windows used."""
    pool = [d["text"] for d in documents()]
    for page in sorted(Path("/usr/share/man").glob("man?/*.gz")):
        pool.append(re.sub(r"\\f[BIRP]|\\-", "", "\n".join(
            x for x in gzip.open(page, "rt", errors="replace").read().splitlines() if not x.startswith("."))))
    words = " ".join(pool).split()
    windows = [" ".join(words[i:i + 150]) for i in range(0, len(words) - 150, 75)]
    distinct = min(int(docs * 0.7), len(windows))
    rng = random.Random(0)
    filler = words[:100_000]
    folder.mkdir(parents=True, exist_ok=True)
    handles = [gzip.open(folder / f"part-{f:04d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) for f in range(files)]
    size = 0
    for i in range(docs):
        if i < distinct:
            text = windows[i]
        else:
            kind, rate = EDITS[rng.randrange(len(EDITS))]
            text = edited(windows[rng.randrange(distinct)], rng, rate, filler, kind)
        size += len(text.encode())
        handles[i % files].write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    for h in handles:
        h.close()
    return size, distinct


def peak_rss_run(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (GiB) of all the command's processes together, exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CI": "1"}, cwd=ROOT)
    peak = 0
    while proc.poll() is None:
        total = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[3]) == proc.pid:  # session id (field 6) is the run's
                    total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError):
                continue
        peak = max(peak, total)
        time.sleep(0.2)
    return time.perf_counter() - t0, peak / (1 << 30), proc.returncode


def end_to_end(docs: int, work: Path, workers: int) -> None:
    inp = work / f"in-{docs}"
    t0 = time.perf_counter()
    size, distinct = window_corpus(inp, docs, files=max(4, docs // 25_000))
    made = time.perf_counter() - t0
    out = work / f"out-{docs}"
    config = {"name": "minhash-bench", "input": {"reader": "jsonl", "paths": [f"{inp}/*.jsonl.gz"], "source": "bench"},
              "steps": [{"dedup.minhash": {}}], "output": {"path": str(out)},
              "executor": {"kind": "local", "workers": workers}}
    path = work / f"bench-{docs}.yaml"
    path.write_text(yaml.safe_dump(config))
    seconds, rss, code = peak_rss_run([sys.executable, "-m", "pipelines.cli", "run", str(path), "--overwrite"])
    manifest = json.loads((out / "manifest.json").read_text()) if code == 0 else {}
    kept = manifest.get("output", {}).get("docs", "failed")
    print(f"| {docs:,} ({distinct:,} windows) | {size / 1e6:,.0f} | {workers} | {seconds:,.1f} | {docs / seconds:,.0f} | {rss:.2f} | {kept:,} | "
          f"{made:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=3000, help="real documents the quality corpus copies")
    parser.add_argument("--speed-docs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--docs", type=int, nargs="*", default=[100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--parts", nargs="*", default=["quality", "speed", "e2e"], choices=["quality", "speed", "e2e"])
    parser.add_argument("--work", type=Path, default=None, help="folder for the end-to-end corpora (default: a temporary one)")
    args = parser.parse_args()
    if "quality" in args.parts:
        quality(args.bases, args.skip_datatrove)
    if "speed" in args.parts:
        speed(args.speed_docs, args.repeats)
    if "e2e" not in args.parts:
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        print("\n## End to end: read -> dedup.minhash -> write\n")
        print("| documents | input MB | workers | seconds | docs/s | peak RSS GiB (all processes) | kept | corpus made in s |")
        print("|---|---|---|---|---|---|---|---|")
        for docs in args.docs:
            end_to_end(docs, work, args.workers)


if __name__ == "__main__":
    main()
