"""Common Crawl figure: WARC -> main text -> (language id) -> Gopher filters, gristmill against datatrove
(WarcReader + Trafilatura + Gopher filters) at the same worker count, on the same WARC files; plus
extraction quality of both engines against a reference text.

Input: the Python documentation that Debian's `python3.11-doc` ships (real HTML, ~500 pages), served
on 127.0.0.1 and captured with warcio into WARC files, so records carry real HTTP headers. Reference
text: the reST source Sphinx built each page from (`_sources/*.rst.txt`), with markup stripped; the
score is bag-of-words F1 of an engine's text against it (precision: how much of the output is page
text, recall: how much of the page text came out; tokens as in benchmarks/extraction_quality.py).

datatrove's language filter downloads its model at run time, so its pipeline runs without language
id; gristmill's includes it (py3langid) and is still compared as is.

Run: apt-get install python3.11-doc; .venv/bin/python benchmarks/commoncrawl.py [--workers 2] [--repeat 3]
(each pipeline runs --repeat times, alternating with the other; the medians are compared)
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction_quality import rst_text  # noqa: E402
from tests.bag_of_words import f1  # noqa: E402

DOCS = Path("/usr/share/doc/python3.11/html")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def capture(folder: Path, files: int) -> list[Path]:
    from warcio.capture_http import capture_http  # noqa: I001 - must come before requests
    import requests

    pages = sorted(p for p in DOCS.rglob("*.html") if p.stat().st_size < 1_000_000)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(DOCS)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        path = folder / f"python-docs-{i:02d}.warc.gz"
        with capture_http(str(path)):
            for p in pages[i::files]:
                requests.get(f"{base}/{p.relative_to(DOCS)}", timeout=10)
        paths.append(path)
    server.shutdown()
    return paths


def run_datatrove(warcs: Path, out: Path, workers: int, tasks: int) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    executor = LocalPipelineExecutor(
        pipeline=[WarcReader(str(warcs), glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True),
                  GopherQualityFilter(), GopherRepetitionFilter(), JsonlWriter(str(out / "data"))],
        tasks=tasks, workers=workers, logging_dir=str(out / "logs"))
    t0 = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - t0
    stats = json.loads((out / "logs" / "stats.json").read_text())
    return seconds, stats[0]["stats"].get("documents", 0)


def run_gristmill(warcs: Path, out: Path, workers: int, work: Path) -> tuple[float, dict]:
    config = {"name": "cc-bench", "input": {"reader": "warc", "paths": [f"{warcs}/*.warc.gz"], "source": "web"},
              "steps": [{"extract.html": {}}, {"filter.language": {"languages": ["en"], "min_score": 0.5}},
                        {"filter.gopher.quality": {}}, {"filter.gopher.repetition": {}}],
              "output": {"path": str(out)}, "executor": {"kind": "local", "workers": workers}}
    path = work / "gristmill-cc.yaml"
    path.write_text(yaml.safe_dump(config))
    shutil.rmtree(out, ignore_errors=True)  # each repeat a whole run (a finished run is not redone)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(path), "--overwrite"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, json.loads((out / "manifest.json").read_text())


def reference(url_path: str) -> str | None:
    src = DOCS / "_sources" / (url_path.removesuffix(".html") + ".rst.txt")
    return rst_text(src) if src.exists() else None


def extraction_scores(warcs: list[Path]) -> dict[str, tuple[float, int, float]]:
    """engine -> (mean F1, pages, ms/page), on every page with a reference."""
    import pyarrow as pa
    from datatrove.pipeline.extractors import Trafilatura

    from curate.engine.reader import ReadStats, make_reader
    from curate.extract.html import ExtractHtml, HtmlParams, decode_html

    batches = [b for w in warcs for b in make_reader({"reader": "warc", "paths": [str(w)]}, "web").batches(str(w), ReadStats())]
    table = pa.Table.from_batches(batches)
    urls = [re.sub(r"^https?://[^/]+/", "", u) for u in table.column("url").to_pylist()]
    refs = [reference(u) for u in urls]
    keep = [i for i, r in enumerate(refs) if r]
    pages = table.take(keep).combine_chunks().to_batches()[0]
    results = {}
    for name, engine in (("resiliparse (gristmill default)", "resiliparse"), ("trafilatura via gristmill", "trafilatura")):
        step = ExtractHtml(HtmlParams(engine=engine))
        step.setup()
        t0 = time.perf_counter()
        texts = step.keep(pages).batch.column("text").to_pylist()
        ms = 1000 * (time.perf_counter() - t0) / len(keep)
        results[name] = (sum(f1(t, refs[i]) for t, i in zip(texts, keep)) / len(keep), len(keep), ms)
    dt = Trafilatura(favour_precision=True, timeout=None)
    html = [decode_html(h, c) for h, c in zip(pages.column("html").to_pylist(), pages.column("content_type").to_pylist())]
    t0 = time.perf_counter()
    texts = [dt.extract(h) or "" for h in html]
    ms = 1000 * (time.perf_counter() - t0) / len(keep)
    results["datatrove Trafilatura (favour_precision)"] = (
        sum(f1(t, refs[i]) for t, i in zip(texts, keep)) / len(keep), len(keep), ms)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each pipeline, alternating; medians reported")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-cc")
    args = ap.parse_args()
    if not DOCS.exists():
        sys.exit(f"{DOCS} is missing: apt-get install python3.11-doc")
    shutil.rmtree(args.work, ignore_errors=True)
    warcs = capture(args.work / "warc", args.files)
    size_mb = sum(p.stat().st_size for p in warcs) / 1e6
    raw_mb = sum(len(gzip.decompress(p.read_bytes())) for p in warcs) / 1e6

    times_dt, times_gm = [], []
    for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits both
        shutil.rmtree(args.work / "datatrove", ignore_errors=True)
        times_dt.append(run_datatrove(args.work / "warc", args.work / "datatrove", args.workers, args.files)[0])
        seconds, manifest = run_gristmill(args.work / "warc", args.work / "gristmill", args.workers, args.work)
        times_gm.append(seconds)
    t_dt, t_gm = statistics.median(times_dt), statistics.median(times_gm)
    docs = manifest["read"]["docs"]
    print(f"input: {args.files} WARC files, {size_mb:.1f} MB gzip ({raw_mb:.1f} MB raw), {docs} HTML responses, "
          f"{args.workers} workers; median of {args.repeat} runs each (datatrove "
          f"{', '.join(f'{t:.1f}' for t in times_dt)} s; gristmill {', '.join(f'{t:.1f}' for t in times_gm)} s)")
    print("\n| pipeline | seconds | docs/s | MB/s (raw WARC) | vs datatrove | kept |")
    print("|---|---|---|---|---|---|")
    kept_dt = sum(1 for f in (args.work / "datatrove" / "data").glob("*.jsonl.gz") for _ in gzip.open(f))
    print(f"| datatrove WarcReader + Trafilatura + Gopher quality + repetition | {t_dt:.1f} | {docs / t_dt:.1f} | "
          f"{raw_mb / t_dt:.2f} | 1.00x | {kept_dt} |")
    print(f"| gristmill warc + extract.html (resiliparse) + filter.language + filter.gopher.* | {t_gm:.1f} | "
          f"{docs / t_gm:.1f} | {raw_mb / t_gm:.2f} | {t_dt / t_gm:.2f}x | {manifest['output']['docs']} |")

    print("\n| extraction engine | mean bag-of-words F1 vs reST source | pages | ms/page |")
    print("|---|---|---|---|")
    for name, (score, n, ms) in extraction_scores(warcs).items():
        print(f"| {name} | {score:.3f} | {n} | {ms:.1f} |")


if __name__ == "__main__":
    main()
