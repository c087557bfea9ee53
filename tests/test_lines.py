"""dedup.lines on the bundled real corpus: the lines found in more than max_docs documents leave
every document, as a plain-Python count says; counts in the manifest; any worker count, same bytes."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.dedup.minhash import normalize
from pipelines.cli import main
from provenance.manifest import RunManifest
from tests.conftest import SAMPLE
from tests.neardup import WORD


def sample_docs(folder: Path, sources: tuple[str, ...] = ()) -> tuple[list[dict], str]:
    """The bundled sample's documents (of `sources`, or all) with ids, written to `folder` as JSONL."""
    docs = [{"id": f"s{i}", **d} for i, d in enumerate(json.loads(line) for f in sorted(SAMPLE.glob("*.jsonl.gz"))
                                                     for line in gzip.open(f, "rt", encoding="utf-8"))
            if not sources or d["source"] in sources]
    folder.mkdir(parents=True)
    with gzip.open(folder / "docs.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)
    return docs, f"{folder}/*.jsonl.gz"


def expected(docs: list[dict], max_docs: int = 10, separator: str = "\n", skip: tuple[str, ...] = (),
             fold_digits: bool = True) -> tuple[dict[str, str | None], int, int]:
    """Plain Python: each document's text once the frequent lines are gone (None: dropped), and the
    lines and bytes removed from the documents kept."""
    mine = [d for d in docs if not d["source"].startswith(skip)]
    lines = [x for d in mine for x in d["text"].split(separator)]
    folded = iter(" ".join(WORD.findall(x)) for x in normalize(pa.array(lines), fold_digits).to_pylist())
    keys = {d["id"]: [next(folded) for _ in d["text"].split(separator)] for d in mine}
    seen = Counter(k for ks in keys.values() for k in set(ks) if k)
    frequent = {k for k, n in seen.items() if n > max_docs}
    out, lines, size = {}, 0, 0
    for d in docs:
        if d["id"] not in keys:
            out[d["id"]] = d["text"]
            continue
        parts = d["text"].split(separator)
        worded = [k for k in keys[d["id"]] if k]
        if worded and all(k in frequent for k in worded):
            out[d["id"]] = None
            continue
        kept = [p for p, k in zip(parts, keys[d["id"]]) if k not in frequent]
        out[d["id"]] = separator.join(kept)
        lines += len(parts) - len(kept)
        size += len(d["text"].encode()) - len(out[d["id"]].encode())
    return out, lines, size


def run_lines(tmp_path: Path, pipeline, inputs: str, params: dict, workers: int, name: str = "out"):
    out = tmp_path / name
    config = {"input": {"reader": "jsonl", "paths": [inputs], "source_field": "source"},
              "steps": [{"dedup.lines": params}], "output": {"path": str(out)},
              "executor": {"kind": "local", "workers": workers}}
    assert main(["run", str(pipeline(config, f"{name}.yaml"))]) == 0
    shards = sorted(out.glob("part-*.parquet"))
    texts = {r["id"]: r["text"] for p in shards for r in pq.read_table(p, columns=["id", "text"]).to_pylist()}
    return texts, {p.name: p.read_bytes() for p in shards}, RunManifest.load(out / "manifest.json").steps[0]


def test_frequent_lines_leave_every_document(tmp_path, pipeline):
    """Wikipedia's section headings, the GPL's paragraphs in Debian copyright files: lines in more than
    10 documents go, from all of them; code is left alone; what is left matches plain Python."""
    docs, inputs = sample_docs(tmp_path / "in")
    params = {"skip_sources": ["code/*"]}
    texts, shards, step = run_lines(tmp_path, pipeline, inputs, params, 2, "two")
    want, lines, size = expected(docs, skip=("code/",))
    assert texts == {i: t for i, t in want.items() if t is not None}
    dropped = sum(t is None for t in want.values())
    assert step.removed == {"repeated_lines_only": dropped} and dropped > 0
    assert step.counters == {"lines_removed": lines, "bytes_removed": size} and lines > 1000
    assert step.sources["code/python-stdlib"].counters == {}
    assert "references" not in {x.lower() for t in texts.values() for x in t.split("\n")}
    assert run_lines(tmp_path, pipeline, inputs, params, 1, "one")[1] == shards


@pytest.mark.parametrize("params", [{"separator": "\n\n", "max_docs": 3}, {"max_docs": 50, "fold_digits": False}])
def test_paragraphs_thresholds_and_digits(tmp_path, pipeline, params):
    docs, inputs = sample_docs(tmp_path / "in", ("web/wikipedia", "legal/debian-copyright"))
    texts, _, step = run_lines(tmp_path, pipeline, inputs, params, 2)
    want, lines, size = expected(docs, params["max_docs"], params.get("separator", "\n"),
                                 fold_digits=params.get("fold_digits", True))
    assert texts == {i: t for i, t in want.items() if t is not None}
    assert step.counters == {"lines_removed": lines, "bytes_removed": size} and lines > 0
