"""The engine's seams: a global step that adds columns, step counts per source, a reader and an
executor found by name, every config error of a file at once, the typed manifest."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import xxhash

from curate.engine.plan import load_plan
from curate.engine.reader import Reader, ReadStats, TableParams, make_reader, origin
from curate.engine.reader import register as register_reader
from curate.engine.schema import CORE_SCHEMA
from curate.engine.step import GlobalStep, Params, Step, register
from pipelines.cli import main
from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError


def jsonl_input(sample) -> dict:
    return {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"}


@register("test.longest_of_source")
class LongestOfSource(GlobalStep):
    """Per source: drops the shortest document, marks the longest with how many documents its source has."""

    adds = {"source_docs": pa.int64()}

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        sources = batch.column("source").to_pylist()
        return pa.table({"row": np.arange(batch.num_rows), "source": sources,
                         "length": pc.binary_length(batch.column("text")),
                         "partition_key": pa.array([xxhash.xxh32_intdigest(s) for s in sources], pa.uint32())})

    def reduce(self, keys: pa.Table, documents) -> pa.Table:
        found = []
        for _, group in pl.from_arrow(keys).group_by("source"):
            ranked = group.sort(["length", "task", "row"])
            first, last = ranked.row(0, named=True), ranked.row(-1, named=True)
            found.append({"task": first["task"], "row": first["row"], "reason": "shortest_of_source", "source_docs": None})
            found.append({"task": last["task"], "row": last["row"], "reason": None, "source_docs": group.height})
        return pa.Table.from_pylist(found, schema=pa.schema([("task", pa.int32()), ("row", pa.int64()),
                                                             ("reason", pa.string()), ("source_docs", pa.int64())]))


class CountParams(Params):
    word: str = "the"


@register("test.count_word")
class CountWord(Step):
    """Reports how often a word occurs, per document."""

    Params = CountParams

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.count(f"{self.params.word}_seen", [t.split().count(self.params.word) for t in batch.column("text").to_pylist()])
        return batch


def test_global_step_drops_annotates_and_keeps(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline({"input": jsonl_input(sample), "steps": [{"test.longest_of_source": {}}],
                     "output": {"path": str(out), "keep_rejected": 3}})
    assert main(["run", str(path)]) == 0
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    read = pl.concat([pl.read_ndjson(p) for p in sorted(sample.glob("*.jsonl.gz"))], how="diagonal_relaxed")
    sizes = read.group_by("source").len()
    assert kept.height == read.height - sizes.height  # one dropped per source
    marked = kept.filter(pl.col("source_docs").is_not_null())
    assert dict(zip(marked["source"], marked["source_docs"])) == dict(zip(sizes["source"], sizes["len"]))
    for _, group in kept.group_by("source"):  # the marked one is its source's longest
        assert group.sort(pl.col("text").str.len_bytes())["source_docs"][-1] is not None
    manifest = RunManifest.load(out / "manifest.json")
    step = manifest.steps[0]
    assert step.removed == {"shortest_of_source": sizes.height}
    assert {s: c.removed for s, c in step.sources.items()} == {s: {"shortest_of_source": 1} for s in sizes["source"]}
    assert manifest.output.columns["source_docs"] == "int64"


def test_global_step_decisions_do_not_depend_on_the_number_of_reduce_parts(tmp_path, sample, pipeline, monkeypatch):
    import curate.engine.run as engine_run

    outputs = []
    for parts_bytes in (engine_run.REDUCE_BYTES, 4096):  # one part; several
        monkeypatch.setattr(engine_run, "REDUCE_BYTES", parts_bytes)
        out = tmp_path / f"out-{parts_bytes}"
        path = pipeline({"input": jsonl_input(sample), "steps": [{"test.longest_of_source": {}}, {"dedup.exact": {}}],
                         "output": {"path": str(out)}}, f"p{parts_bytes}.yaml")
        assert main(["run", str(path)]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("part-*"))})
    assert outputs[0] == outputs[1]


def test_step_counts_reach_the_manifest_per_source(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline({"input": jsonl_input(sample), "steps": [{"test.count_word": {"word": "the"}}],
                     "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    expected = {s: sum(t.split().count("the") for t in g["text"]) for (s,), g in kept.group_by("source")}
    step = RunManifest.load(out / "manifest.json").steps[0]
    assert step.counters == {"the_seen": sum(expected.values())} and sum(expected.values()) > 1000
    assert {s: c.counters["the_seen"] for s, c in step.sources.items() if c.counters} == {s: n for s, n in expected.items() if n}
    assert sum(c.docs_in for c in step.sources.values()) == step.docs_in == kept.height


@register_reader("test_lines")
class LinesReader(Reader):
    """A reader written in a test: every line of a text file is a document."""

    Params = TableParams

    def read(self, path: str, stats: ReadStats):
        lines = [x for x in open(path, encoding="utf-8").read().splitlines() if x.strip()]
        rows = list(range(1, len(lines) + 1))
        yield pa.RecordBatch.from_pydict({"id": [f"{path}:{r}" for r in rows], "text": lines,
                                          "source": [self.source] * len(lines), "url": [None] * len(lines),
                                          "origin": origin([path] * len(lines), rows)}, schema=CORE_SCHEMA)


def test_a_new_reader_is_one_class_found_by_name(tmp_path, sample, pipeline):
    text = tmp_path / "lines.txt"
    text.write_text("a first real line of words\n\nand a second one\n")
    out = tmp_path / "out"
    path = pipeline({"input": {"reader": "test_lines", "paths": [str(text)], "license": "CC0-1.0"},
                     "steps": [{"filter.length": {"min_words": 1}}], "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    assert kept["text"].to_list() == ["a first real line of words", "and a second one"]
    assert kept["license"].to_list() == ["CC0-1.0", "CC0-1.0"]


def test_license_from_a_column_or_the_input_default(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in [{"text": "a b", "lic": "MIT"}, {"text": "c d"}]) + "\n")
    reader = make_reader({"reader": "jsonl", "paths": [str(path)], "license_field": "lic", "license": "unknown"}, "x")
    batch = next(reader.batches(str(path), ReadStats()))
    assert batch.column("license").to_pylist() == ["MIT", "unknown"]
    assert "license" in reader.columns() and "license" not in make_reader({"reader": "jsonl", "paths": ["x"]}, "x").columns()


def test_a_synthetic_input_marks_every_document(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ["a b", "c d"]) + "\n")
    reader = make_reader({"reader": "jsonl", "paths": [str(path)], "synthetic": {"generator": "some-llm-7b"}}, "x")
    assert next(reader.batches(str(path), ReadStats())).column("synthetic").to_pylist() == ["some-llm-7b"] * 2
    assert reader.columns()["synthetic"] == pa.string()
    with pytest.raises(ValueError, match="generator"):
        make_reader({"reader": "jsonl", "paths": [str(path)], "synthetic": {}}, "x")


def test_every_error_of_a_file_at_once(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": {"paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"filter.lenght": {}}, {"filter.length": {"min_wrds": 3}}],
                     "executor": {"kind": "slurmm"}})
    with pytest.raises(ConfigError) as err:
        load_plan(str(path))
    text = "\n".join(err.value.errors)
    assert "input.reader is required" in text
    assert "unknown step 'filter.lenght'; did you mean filter.length" in text
    assert "min_wrds" in text
    assert "unknown executor 'slurmm'" in text
    assert all(line.startswith(f"{path}:") for line in err.value.errors)
    assert main(["validate", str(path)]) == 2
    assert "filter.lenght" in capsys.readouterr().err


def test_reader_params_are_the_chosen_readers(tmp_path, sample, pipeline):
    path = pipeline({"input": {"reader": "warc", "paths": [f"{sample}/warc/*.warc.gz"], "text_field": "body"}})
    with pytest.raises(ConfigError, match=r"input\.text_field: Extra inputs are not permitted"):
        load_plan(str(path))


def test_worker_step_cache_is_per_plan(tmp_path, sample, pipeline):
    from curate.engine.task import built_steps

    a = load_plan(str(pipeline({"input": jsonl_input(sample), "steps": [{"filter.length": {"min_words": 5}}]}, "a.yaml")))
    b = load_plan(str(pipeline({"input": jsonl_input(sample), "steps": [{"filter.length": {"min_words": 9}}]}, "b.yaml")))
    assert built_steps(a, 0)[0][1].params.min_words == 5
    assert built_steps(b, 0)[0][1].params.min_words == 9


def test_manifest_is_typed_and_versioned(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    assert main(["run", str(pipeline({"input": jsonl_input(sample), "output": {"path": str(out)}}))]) == 0
    data = json.loads((out / "manifest.json").read_text())
    assert data["kind"] == "curate" and data["version"] == 1
    assert sum(s["docs"] for s in data["output"]["sources"].values()) == data["output"]["docs"]
    data["version"] = 99
    (out / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="newer than this gristmill reads"):
        RunManifest.load(out / "manifest.json")


def test_manifest_names_the_places_of_bad_input(tmp_path, sample, pipeline):
    lines = (sample / "news-abc.jsonl.gz").read_bytes()
    import gzip

    good = gzip.decompress(lines).splitlines()[:5]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join([good[0], b"{not json", good[1], b"[1, 2]", good[2]]) + b"\n")
    out = tmp_path / "out"
    assert main(["run", str(pipeline({"input": {"reader": "jsonl", "paths": [str(path)]},
                                      "output": {"path": str(out)}}))]) == 0
    read = RunManifest.load(out / "manifest.json").read
    assert read.skipped == {"malformed_json": 2}
    assert read.places == {"malformed_json": [f"{path}:2", f"{path}:4"]}
