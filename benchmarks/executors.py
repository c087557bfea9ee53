"""Executor figure: the Common Crawl pipeline (pipelines/commoncrawl.yaml, every step) on the same WARC
files under the local executor and the Ray executor at 1 and 2 workers, on this machine; the documents
kept must be the same in every run. Plus the executor's own cost per task and per batch (empty tasks
through each executor; Ray Data's map_batches on the same batches, for comparison), and a projection of
time and cost per TB of Common Crawl WARC on 100 nodes from the measured per-core rate of every step.

Ray runs on a local cluster: `ray start --head` (1 CPU) plus one `ray start --address` worker node (1 CPU),
both on 127.0.0.1; "1 worker" caps the run at one task at a time (`executor.workers: 1`). Each run is a
fresh `gristmill run`-like process, so Ray's figures include connecting and starting its worker processes.

Input: the Python documentation Debian's `python3.11-doc` ships, captured into WARC files over HTTP on
127.0.0.1 (benchmarks/commoncrawl.py).

Run: .venv/bin/python benchmarks/executors.py [--files 8] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CI", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a loopback cluster of this user's own processes

# projection assumptions (stated with the figure)
NODE_CORES = 64  # vCPUs per node
NODE_USD_HOUR = 2.72  # on-demand price of a 64-vCPU general-purpose cloud VM (e.g. AWS m7i.16xlarge-class, 2025)
EFFICIENCY = 0.8  # share of core time spent in tasks (stragglers, stage barriers, reduce, I/O waits)
TB = 1e12


@dataclass
class NoOp:
    """An empty task: what an executor costs per task, with nothing to do."""

    marker: Path

    def __call__(self) -> dict:
        return {"pid": os.getpid()}


def one_run(args) -> None:
    """In a child process: one pipeline run, or the empty-task measurement; prints JSON."""
    from curate.engine.executor import EXECUTORS
    from curate.engine.plan import load_plan
    from curate.engine.run import run

    kind = args.one
    params = ["executor.kind=" + kind, f"executor.workers={args.workers}"]
    if kind == "ray":
        params.append(f"executor.address={args.address}")
    if args.noop:
        plan = load_plan(str(ROOT / "pipelines" / "commoncrawl.yaml"), [*params, f"output.path={args.out}"],
                         check_inputs=False)
        executor = EXECUTORS.get(kind)(plan.executor, None, progress=False)
        result = {}
        for label, n in (("warm-up", args.workers * 2), ("timed", args.noop)):
            folder = Path(args.out) / label
            tasks = [NoOp(folder / f"{i}.json") for i in range(n)]
            t0 = time.perf_counter()
            executor.run(label, tasks)
            result[label] = time.perf_counter() - t0
        result["per_task"] = result["timed"] / args.noop * args.workers  # one worker's time per task
        if kind == "ray":
            result["ray_data_per_batch"] = ray_data_per_batch(Path(args.warcs))
        print(json.dumps(result))
        return
    plan = load_plan(str(ROOT / "pipelines" / "commoncrawl.yaml"),
                     [*params, f"input.paths=[{args.warcs}/*.warc.gz]", f"output.path={args.out}"])
    t0 = time.perf_counter()
    manifest = run(plan, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "manifest": manifest.model_dump(mode="json")}))


def ray_data_per_batch(warcs: Path) -> float:
    """Ray Data's cost per batch: an identity map_batches over the pipeline's first-stage batches
    (from memory; a second pass, after Ray Data's own start-up)."""
    import ray

    from curate.engine.reader import ReadStats, make_reader

    reader = make_reader({"reader": "warc", "paths": [str(warcs / "*.warc.gz")]}, "web")
    batches = [b for f in reader.files() for b in reader.batches(f, ReadStats())]
    import pyarrow as pa

    tables = [pa.Table.from_batches([b]) for b in batches]
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        ray.data.from_arrow(tables).map_batches(lambda t: t, batch_format="pyarrow", batch_size=None).materialize()
        seconds.append(time.perf_counter() - t0)
    return seconds[-1] / len(tables)


def child(kind: str, workers: int, out: Path, warcs: Path, address: str = "", noop: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, "--workers", str(workers), "--out", str(out), "--warcs", str(warcs)]
    if address:
        cmd += ["--address", address]
    if noop:
        cmd += ["--noop", str(noop)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kept(out: Path) -> list[str]:
    import pyarrow.parquet as pq

    return sorted(i for p in sorted(out.glob("part-*.parquet")) for i in pq.read_table(p, columns=["id"])["id"].to_pylist())


def projection(manifest: dict, input_bytes: int) -> list[str]:
    """Core-seconds per TB of WARC from every step's measured time (1 worker: one core), scaled to 100 nodes."""
    lines = [f"{'step':28}{'docs in':>9}{'s (1 core)':>12}{'core-h / TB WARC':>18}"]
    total = 0.0
    read_s = manifest["seconds"] - sum(s["seconds"] for s in manifest["steps"])
    rows = [("read+write (engine)", manifest["read"]["docs"], max(read_s, 0.0))]
    rows += [(s["step"], s["docs_in"], s["seconds"]) for s in manifest["steps"]]
    for name, docs, seconds in rows:
        per_tb = seconds / input_bytes * TB
        total += per_tb
        lines.append(f"{name:28}{docs:>9,}{seconds:>12.2f}{per_tb / 3600:>18,.0f}")
    cores = 100 * NODE_CORES
    hours = total / (cores * EFFICIENCY) / 3600
    cost = hours * 100 * NODE_USD_HOUR
    lines += [f"{'total':28}{'':>9}{manifest['seconds']:>12.2f}{total / 3600:>18,.0f}",
              f"-> 1 TB of WARC (gzip) on 100 nodes x {NODE_CORES} vCPU at {EFFICIENCY:.0%} efficiency: "
              f"{hours * 60:.1f} min, ${cost:,.0f} at ${NODE_USD_HOUR}/node-hour on demand "
              f"({total / 3600:,.0f} core-hours; a CC crawl of ~100 TB: {hours * 100:.1f} h, ${cost * 100:,.0f})"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=8, help="WARC files the pages are split into (tasks per stage)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--one", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--warcs", help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    ap.add_argument("--noop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one_run(args)

    import warcio.capture_http  # noqa: F401 - before anything imports requests (Ray does), or nothing is captured

    from benchmarks.commoncrawl import capture
    from tests.test_ray import local_cluster

    work = args.work or Path(tempfile.mkdtemp(prefix="gristmill-executors-"))
    warcs = work / "warcs"
    if not all(p.stat().st_size for p in warcs.glob("*.warc.gz")) or not list(warcs.glob("*.warc.gz")):
        capture(warcs, args.files)
    input_bytes = sum(p.stat().st_size for p in warcs.glob("*.warc.gz"))
    print(f"input: {len(list(warcs.glob('*.warc.gz')))} WARC files, {input_bytes / 1e6:.1f} MB; "
          f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}")

    results: dict[tuple[str, int], list[dict]] = {}
    for r in range(args.repeat):
        for workers in (1, 2):
            results.setdefault(("local", workers), []).append(child("local", workers, work / f"local-{workers}-{r}", warcs))
    noop_local = child("local", 2, work / "noop-local", warcs, noop=200)
    with local_cluster() as (address, _):
        for r in range(args.repeat):
            for workers in (1, 2):
                results.setdefault(("ray", workers), []).append(
                    child("ray", workers, work / f"ray-{workers}-{r}", warcs, address))
        noop_ray = child("ray", 2, work / "noop-ray", warcs, address, noop=200)

    reference = kept(work / "local-1-0")
    same = all(kept(work / f"{k}-{w}-{r}") == reference for (k, w), runs in results.items() for r in range(len(runs)))
    manifest = results[("local", 1)][0]["manifest"]
    docs = manifest["read"]["docs"]
    print(f"\nCommon Crawl pipeline (pipelines/commoncrawl.yaml), {docs} pages read, {len(reference)} kept; "
          f"same documents kept in every run: {same}")
    print(f"{'executor':10}{'workers':>8}{'median s':>10}{'pages/s':>9}{'vs 1 worker':>13}")
    for kind in ("local", "ray"):
        one = statistics.median(r["seconds"] for r in results[(kind, 1)])
        for workers in (1, 2):
            s = statistics.median(r["seconds"] for r in results[(kind, workers)])
            print(f"{kind:10}{workers:>8}{s:>10.2f}{docs / s:>9.1f}{one / s:>12.2f}x")
    ray2 = statistics.median(r["seconds"] for r in results[("ray", 2)])
    ray1 = statistics.median(r["seconds"] for r in results[("ray", 1)])
    print(f"target: ray 2 workers >= 1.6x 1 worker: {ray1 / ray2:.2f}x -> {'met' if ray1 / ray2 >= 1.6 else 'NOT met'}")

    tasks = len(manifest["inputs"]) * (1 + sum(1 for s in manifest["steps"] if s["step"].split(":")[1].startswith("dedup.")))
    local_task = statistics.median(r["seconds"] for r in results[("local", 1)]) / tasks
    batches_per_task = max(1, round(docs / len(manifest["inputs"]) / 100))  # WARC batches: 4 MiB of HTML, ~100 pages
    extra = noop_ray["per_task"] - noop_local["per_task"]
    print(f"\nexecutor cost per task (200 empty tasks, 2 workers, warm): local {noop_local['per_task'] * 1000:.1f} ms, "
          f"ray {noop_ray['per_task'] * 1000:.1f} ms")
    print(f"Ray's extra cost per task: {extra * 1000:.1f} ms = {extra / local_task:.1%} of a local task of this "
          f"pipeline ({local_task:.2f} s, ~{batches_per_task} batch(es) of ~100 pages): "
          f"{extra / batches_per_task * 1000:.1f} ms per batch; target <= 10%: "
          f"{'met' if extra / local_task <= 0.10 else 'NOT met'}")
    print(f"Ray Data map_batches (identity, warm) per batch: {noop_ray['ray_data_per_batch'] * 1000:.1f} ms")
    print("\nprojection from the local 1-worker run (one core):")
    print("\n".join(projection(manifest, input_bytes)))


if __name__ == "__main__":
    main()
