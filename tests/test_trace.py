"""Every removed document is recorded (id, step, reason, source, origin) across workers and stages, and
`gristmill trace` answers for kept, removed and unknown ids."""

from __future__ import annotations

import polars as pl

from pipelines.cli import main
from provenance.manifest import RunManifest

STEPS = [{"filter.length": {"min_words": 50}}, {"dedup.exact": {}}, {"filter.gopher.quality": {}}]


def run(sample, pipeline, out, workers: int) -> RunManifest:
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"},
                     "steps": STEPS, "output": {"path": str(out)}, "executor": {"kind": "local", "workers": workers}},
                    f"w{workers}.yaml")
    assert main(["run", str(path)]) == 0
    return RunManifest.load(out / "manifest.json")


def test_every_removed_document_is_recorded_with_its_step_and_reason(tmp_path, sample, pipeline):
    frames = {}
    for workers in (1, 2):
        manifest = run(sample, pipeline, tmp_path / f"out{workers}", workers)
        dropped = pl.read_parquet(tmp_path / f"out{workers}" / "dropped" / "*.parquet")
        kept = pl.read_parquet(tmp_path / f"out{workers}" / "part-*.parquet")
        assert dropped.height + kept.height == manifest.read.docs
        assert set(dropped["id"]).isdisjoint(kept["id"])
        for step in manifest.steps:  # the same counts as the manifest's, by step and by reason
            mine = dropped.filter(pl.col("step") == step.step)
            assert mine.height == sum(step.removed.values())
            assert {r: n for r, n in mine.group_by("reason").len().iter_rows()} == step.removed
        assert dropped["origin"].struct.field("file").is_not_null().all()
        frames[workers] = dropped.sort("id")
    assert frames[1].equals(frames[2])


def test_trace_answers_for_kept_removed_and_unknown_ids(tmp_path, sample, pipeline, capsys):
    out = tmp_path / "out"
    run(sample, pipeline, out, 2)
    capsys.readouterr()
    kept = pl.read_parquet(out / "part-*.parquet").row(0, named=True)
    assert main(["trace", str(out), kept["id"]]) == 0
    text = capsys.readouterr().err
    assert f"{kept['id']}: kept" in text and f"read from: {kept['origin']['file']}" in text
    assert "passed: 0:filter.length, 1:dedup.exact, 2:filter.gopher.quality" in text
    dup = pl.read_parquet(out / "dropped" / "*.parquet").filter(pl.col("step") == "1:dedup.exact").row(0, named=True)
    assert main(["trace", str(out), dup["id"]]) == 0
    text = capsys.readouterr().err
    assert f"removed by 1:dedup.exact (exact_duplicate), source {dup['source']}" in text
    assert f"row/line {dup['origin']['row']}" in text
    assert main(["trace", str(out), "no-such-id"]) == 0
    assert "not a document of this run" in capsys.readouterr().err
    assert main(["trace", str(tmp_path / "missing"), "x"]) == 2
    assert "no manifest.json" in capsys.readouterr().err
