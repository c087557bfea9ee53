"""Executor figure: the Common Crawl pipeline (pipelines/commoncrawl.yaml, every step) on the same WARC
files under the local executor and the Ray executor at 1 and 2 workers, on this machine; the documents
kept must be the same in every run. Plus the executor's own cost per task and per batch (empty tasks
through each executor; Ray Data's map_batches on the same batches, for comparison), and a projection of
time and cost per TB of Common Crawl WARC on 100 nodes from the measured per-core rate of every step.

Ray runs on a local cluster: `ray start --head` (1 CPU) plus one `ray start --address` worker node (1 CPU),
both on 127.0.0.1; "1 worker" caps the run at one task at a time (`executor.workers: 1`). Each run is a
fresh `gristmill run`-like process, so Ray's figures include connecting and starting its worker processes.

Input: the Python documentation Debian's `python3.11-doc` ships, captured into WARC files over HTTP on
127.0.0.1 (benchmarks/commoncrawl.py). `--copies K` captures every page K times (under K URLs, `?copy=k`),
so that each run lasts about K times longer (K=8: minutes on 2 cores): the first stage (extraction, filters)
does K times the work; `dedup.lines` counts each line K times, so its `max_docs` is scaled by K to keep its
decisions, and `dedup.exact` then keeps one copy of each page: the pages kept are those of K=1.

Run: .venv/bin/python benchmarks/executors.py [--files 8] [--copies 1] [--repeat 1]
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
    params = ["executor.kind=" + kind, f"executor.workers={args.workers}", *scaled_line_dedup(args.copies)]
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


def scaled_line_dedup(copies: int) -> list[str]:
    """The override that keeps `dedup.lines` deciding as on one copy of each page: max_docs times `copies`."""
    import yaml

    steps = yaml.safe_load((ROOT / "pipelines" / "commoncrawl.yaml").read_text())["steps"]
    i, params = next((i, s["dedup.lines"]) for i, s in enumerate(steps) if "dedup.lines" in s)
    return [f"steps.{i}.dedup.lines.max_docs={params['max_docs'] * copies}"] if copies > 1 else []


def capture_copies(folder: Path, files: int, copies: int) -> None:
    """benchmarks/commoncrawl.py's capture, each page fetched `copies` times (the first under its own URL)
    into the same file, so that every file (task) grows alike."""
    from warcio.capture_http import capture_http  # noqa: I001 - must come before requests
    import functools
    import http.server
    import threading

    import requests

    from benchmarks.commoncrawl import DOCS, Quiet, capture

    if copies == 1:
        capture(folder, files)
        return
    pages = sorted(p for p in DOCS.rglob("*.html") if p.stat().st_size < 1_000_000)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(DOCS)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        with capture_http(str(folder / f"python-docs-{i:02d}.warc.gz")):
            for k in range(copies):
                for p in pages[i::files]:
                    requests.get(f"{base}/{p.relative_to(DOCS)}" + (f"?copy={k}" if k else ""), timeout=10)
    server.shutdown()


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


def child(kind: str, workers: int, out: Path, warcs: Path, copies: int, address: str = "", noop: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, "--workers", str(workers), "--out", str(out), "--warcs", str(warcs),
           "--copies", str(copies)]
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
    ap.add_argument("--copies", type=int, default=1,
                    help="capture every page K times: runs K times longer (8: minutes), the same pages kept")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration (the median is shown)")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--one", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--warcs", help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    ap.add_argument("--noop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.copies < 1:
        ap.error("--copies: 1 or more")
    if args.one:
        return one_run(args)

    import warcio.capture_http  # noqa: F401 - before anything imports requests (Ray does), or nothing is captured

    from tests.test_ray import local_cluster

    work = args.work or Path(tempfile.mkdtemp(prefix="gristmill-executors-"))
    warcs = work / (f"warcs-{args.files}x{args.copies}" if args.copies > 1 else "warcs")
    if not all(p.stat().st_size for p in warcs.glob("*.warc.gz")) or not list(warcs.glob("*.warc.gz")):
        capture_copies(warcs, args.files, args.copies)
    input_bytes = sum(p.stat().st_size for p in warcs.glob("*.warc.gz"))
    print(f"input: {len(list(warcs.glob('*.warc.gz')))} WARC files, {input_bytes / 1e6:.1f} MB; "
          f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}")

    results: dict[tuple[str, int], list[dict]] = {}
    for r in range(args.repeat):
        for workers in (1, 2):
            results.setdefault(("local", workers), []).append(child("local", workers, work / f"local-{workers}-{r}", warcs,
                                                                  args.copies))
    noop_local = child("local", 2, work / "noop-local", warcs, args.copies, noop=200)
    with local_cluster() as (address, _):
        for r in range(args.repeat):
            for workers in (1, 2):
                results.setdefault(("ray", workers), []).append(
                    child("ray", workers, work / f"ray-{workers}-{r}", warcs, args.copies, address))
        noop_ray = child("ray", 2, work / "noop-ray", warcs, args.copies, address, noop=200)

    reference = kept(work / "local-1-0")
    same = all(kept(work / f"{k}-{w}-{r}") == reference for (k, w), runs in results.items() for r in range(len(runs)))
    manifest = results[("local", 1)][0]["manifest"]
    docs = manifest["read"]["docs"]
    print(f"\nCommon Crawl pipeline (pipelines/commoncrawl.yaml), {docs} pages read, {len(reference)} kept; "
          f"same documents kept in every run: {same}")
    median = {key: statistics.median(r["seconds"] for r in runs) for key, runs in results.items()}
    print(f"{'executor':10}{'workers':>8}{'median s':>10}{'pages/s':>9}{'vs 1 worker':>13}{'vs local':>10}")
    for kind in ("local", "ray"):
        for workers in (1, 2):
            s = median[(kind, workers)]
            print(f"{kind:10}{workers:>8}{s:>10.2f}{docs / s:>9.1f}{median[(kind, 1)] / s:>12.2f}x"
                  f"{median[('local', workers)] / s:>9.2f}x")
    ray1, ray2 = median[("ray", 1)], median[("ray", 2)]
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
