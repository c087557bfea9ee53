"""Engine figure: reader -> Gopher quality -> Gopher repetition -> writer, on the same real input,
gristmill (datatrove adapter, and native filters) against datatrove's LocalPipelineExecutor with the
same worker count; plus agreement of keep/reject decisions and peak RSS at 1x and 4x the input, without
and with a global step (dedup.exact; the 4x input is the 1x input four times, so it also removes 3/4).

Run: .venv/bin/python benchmarks/engine_gopher.py [--workers 2] [--shards 8] [--limit N] [--repeat 3]
(each pipeline runs --repeat times, in turn with the others; the medians are compared)
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import documents  # noqa: E402
from tests.shards import write_shards  # noqa: E402

GRISTMILL = [sys.executable, "-m", "pipelines.cli"]


def run_datatrove(inp: Path, out: Path, workers: int, tasks: int) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    executor = LocalPipelineExecutor(
        pipeline=[JsonlReader(str(inp), glob_pattern="*.jsonl.gz"), GopherQualityFilter(), GopherRepetitionFilter(),
                  JsonlWriter(str(out / "data"))],
        tasks=tasks, workers=workers, logging_dir=str(out / "logs"))
    t0 = time.perf_counter()
    executor.run()
    return time.perf_counter() - t0


def datatrove_kept(out: Path) -> set[str]:
    kept = set()
    for f in (out / "data").glob("*.jsonl.gz"):
        with gzip.open(f, "rt") as fh:
            kept.update(json.loads(line)["id"] for line in fh)
    return kept


def gristmill_config(inp: Path, out: Path, workers: int, native: bool) -> dict:
    steps = ([{"filter.gopher.quality": {}}, {"filter.gopher.repetition": {}}] if native else
             [{"filter.datatrove": {"name": "GopherQualityFilter"}},
              {"filter.datatrove": {"name": "GopherRepetitionFilter"}}])
    return {"name": "bench", "input": {"reader": "jsonl", "paths": [f"{inp}/*.jsonl.gz"], "source": "bench"},
            "steps": steps, "output": {"path": str(out)}, "executor": {"kind": "local", "workers": workers}}


def run_gristmill(config: dict, work: Path) -> tuple[float, int]:
    """Wall seconds and the peak RSS (KiB) of the largest process of the run."""
    path = work / f"{Path(config['output']['path']).name}.yaml"
    path.write_text(yaml.safe_dump(config))
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", probe, *GRISTMILL, "run", str(path), "--overwrite"],
                         check=True, capture_output=True, text=True, cwd=ROOT, env={"CI": "1", **_env()})
    seconds, rss = res.stdout.split()
    return float(seconds), int(rss)


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "CI"}


def gristmill_kept(out: Path) -> set[str]:
    import pyarrow.parquet as pq

    return {i for f in out.glob("part-*.parquet") for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()}


PIPELINES = (("datatrove LocalPipelineExecutor", None, "datatrove"),
             ("gristmill filter.datatrove adapter", False, "adapter"),
             ("gristmill native filter.gopher.*", True, "native"))


def throughput(args) -> dict[str, tuple[list[float], int | None, set[str]]]:
    """Each pipeline's seconds in every run (the pipelines in turn, so that a slow spell of the machine hits
    each), its largest peak RSS (KiB; none for datatrove) and the ids it kept."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in PIPELINES}
    peaks: dict[str, int] = {}
    for _ in range(args.repeat):
        for label, native, folder in PIPELINES:
            out = args.work / folder
            shutil.rmtree(out, ignore_errors=True)
            if native is None:
                t, rss = run_datatrove(args.work / "input", out, args.workers, args.shards), 0
            else:
                t, rss = run_gristmill(gristmill_config(args.work / "input", out, args.workers, native), args.work)
            times[label].append(t)
            peaks[label] = max(rss, peaks.get(label, 0))
    return {label: (times[label], peaks[label] or None,
                    (datatrove_kept if native is None else gristmill_kept)(args.work / folder))
            for label, native, folder in PIPELINES}


def agreement(all_ids: list[str], a: set[str], b: set[str]) -> float:
    return sum((i in a) == (i in b) for i in all_ids) / len(all_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each pipeline, in turn; medians reported")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-engine")
    args = ap.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    docs = documents()[: args.limit]
    inp = write_shards(args.work / "input", docs, args.shards)
    ids = [f"{d['id']}~0" for d in docs]
    mb = sum(p.stat().st_size for p in inp) / 1e6
    print(f"input: {len(docs):,} documents, {sum(len(d['text'].encode()) for d in docs) / 1e6:.1f} MB of text, "
          f"{args.shards} shards ({mb:.1f} MB gzip), {args.workers} workers")

    results = throughput(args)
    t_dt, _, kept_dt = results[PIPELINES[0][0]]
    print(f"median of {args.repeat} runs each: " + "; ".join(
        f"{label} {', '.join(f'{t:.1f}' for t in times)} s" for label, (times, _, _) in results.items()))
    print("\n| pipeline | seconds | docs/s | vs datatrove | kept | decisions equal to datatrove's | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for label, (times, rss, kept) in results.items():
        t = statistics.median(times)
        print(f"| {label} | {t:.1f} | {len(docs) / t:,.0f} | {statistics.median(t_dt) / t:.2f}x | {len(kept):,} | "
              f"{100 * agreement(ids, kept, kept_dt):.2f}% | {rss / 1024 if rss else float('nan'):.0f} |")

    # bounded memory: the same pipeline on 1x and 4x the input (one shard each, one worker)
    one, four = args.work / "rss-1x", args.work / "rss-4x"
    write_shards(one, docs, 1, copies=1)
    write_shards(four, docs, 1, copies=4)
    for label, extra in (("native pipeline", []), ("native pipeline + dedup.exact (a global step)", [{"dedup.exact": {}}])):
        rss = {}
        for name, folder in (("1x", one), ("4x", four)):
            config = gristmill_config(folder, args.work / f"out-{name}", 1, native=True)
            config["steps"] += extra
            rss[name] = run_gristmill(config, args.work)[1]
        print(f"\npeak RSS, {label}, 1 worker: 1x input {rss['1x'] / 1024:.0f} MiB, "
              f"4x input {rss['4x'] / 1024:.0f} MiB, ratio {rss['4x'] / rss['1x']:.2f}")


if __name__ == "__main__":
    main()
