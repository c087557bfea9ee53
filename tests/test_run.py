"""`gristmill run` end to end: manifest, interop, determinism, resume after kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from curate.engine.plan import load_plan
from curate.engine.run import run
from pipelines.cli import main
from provenance.yamlfile import ConfigError

STEPS = [{"normalize.unicode": {}}, {"filter.length": {"min_words": 50, "max_words": 20000}},
         {"dedup.exact": {}}, {"filter.length": {"min_chars": 400}}]


NEAR_DUP_STEPS = [{"normalize.unicode": {}}, {"dedup.lines": {}}, {"dedup.minhash": {}},
                  {"filter.length": {"min_words": 50}}]


def config(sample: Path, out: Path, workers: int = 2, steps: list = STEPS, **output) -> dict:
    return {"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"},
            "steps": steps, "output": {"path": str(out), **output},
            "executor": {"kind": "local", "workers": workers}}


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*"))}


def test_run_writes_shards_manifest_and_rejects(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline(config(sample, out, keep_rejected=5))
    assert main(["run", str(path)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == load_plan(str(path)).config_hash()
    assert len(manifest["inputs"]) == 5 and all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["packages"]["pyarrow"]
    steps = manifest["steps"]
    assert [s["step"] for s in steps] == ["0:normalize.unicode", "1:filter.length", "2:dedup.exact", "3:filter.length"]
    # nothing is lost without being counted
    assert steps[0]["docs_in"] == manifest["read"]["docs"]
    for before, after in zip(steps, steps[1:]):
        assert after["docs_in"] == before["docs_out"]
    for s in steps:
        assert s["docs_in"] - s["docs_out"] == sum(s["removed"].values())
    assert steps[2]["removed"]["exact_duplicate"] > 0  # Debian copyright files repeat
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    assert kept.height == manifest["output"]["docs"] == steps[-1]["docs_out"]
    assert kept["id"].n_unique() == kept.height
    assert set(kept.columns) >= {"id", "text", "source", "url", "origin"}
    rejected = [json.loads(x) for x in (out / "rejected" / "2-dedup.exact.jsonl").read_text().splitlines()]
    assert 0 < len(rejected) <= 5 and all(r["reason"] == "exact_duplicate" for r in rejected)
    assert (out / "run.log").read_text().count("stage 1/2: 5 tasks done") == 1
    assert not (out / "_work").exists()


def test_output_loads_with_datasets(tmp_path, sample, pipeline):
    import datasets

    out = tmp_path / "out"
    main(["run", str(pipeline(config(sample, out)))])
    ds = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in out.glob("part-*.parquet")),
                               split="train")
    assert ds.num_rows == json.loads((out / "manifest.json").read_text())["output"]["docs"]
    assert isinstance(ds[0]["origin"]["file"], str)


def test_jsonl_output(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    main(["run", str(pipeline(config(sample, out, format="jsonl")))])
    frame = pl.concat([pl.read_ndjson(p) for p in sorted(out.glob("part-*.jsonl.gz"))], how="vertical_relaxed")
    assert frame.height == json.loads((out / "manifest.json").read_text())["output"]["docs"]


def test_same_output_for_any_worker_count_and_small_shards(tmp_path, sample, pipeline):
    one = tmp_path / "one"
    two = tmp_path / "two"
    run(load_plan(str(pipeline(config(sample, one, workers=1, max_shard_mb=0.5), "a.yaml"))), progress=False)
    run(load_plan(str(pipeline(config(sample, two, workers=2, max_shard_mb=0.5), "b.yaml"))), progress=False)
    a, b = shard_bytes(one), shard_bytes(two)
    assert a == b and len(a) > 5  # 0.5 MB shards roll over


def test_finished_run_is_not_redone_and_other_configs_are_refused(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline(config(sample, out))
    run(load_plan(str(path)), progress=False)
    before = (out / "manifest.json").read_text()
    run(load_plan(str(path)), progress=False)
    assert (out / "manifest.json").read_text() == before
    with pytest.raises(ConfigError, match="--overwrite"):
        run(load_plan(str(path), ["steps.1.filter.length.min_words=60"]), progress=False)
    run(load_plan(str(path), ["steps.1.filter.length.min_words=60"]), overwrite=True, progress=False)
    assert (out / "manifest.json").read_text() != before


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.slow
@pytest.mark.parametrize("victim, steps", [("run", STEPS), ("worker", STEPS), ("run", NEAR_DUP_STEPS)],
                         ids=["run", "worker", "run-near-dup"])
def test_kill_9_then_rerun_gives_identical_output(tmp_path, sample, pipeline, victim, steps):
    for i in range(3):  # more tasks, so the kill lands mid-run
        for f in list(sample.glob("*.jsonl.gz"))[:5]:
            shutil.copy(f, sample / f"copy{i}-{f.name}")
    reference = tmp_path / "reference"
    run(load_plan(str(pipeline(config(sample, reference, workers=1, steps=steps), "ref.yaml"))), progress=False)

    out = tmp_path / "out"
    path = pipeline(config(sample, out, workers=1, steps=steps))
    cmd = [sys.executable, "-m", "pipelines.cli", "run", str(path)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = out / "_work" / "stage-0" / "done"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(markers.glob("task-*.json"))) < 2:
        time.sleep(0.02)
    if victim == "run":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        for child in _children(proc.pid):
            os.kill(child, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    done_before = len(list(markers.glob("task-*.json")))
    assert 2 <= done_before < 20, "the kill should land mid-run"
    assert main(["run", str(path)]) == 0
    assert shard_bytes(out) == shard_bytes(reference)
    log = (out / "run.log").read_text()
    assert f"{done_before} of 20 tasks already done" in log


def test_user_ids_and_columns_survive_a_parquet_run(tmp_path, pipeline):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.test_steps import sample_texts

    texts = sample_texts()
    inp = tmp_path / "in.parquet"
    pq.write_table(pa.table({"doc": [f"user-{i}" for i in range(len(texts))], "text": texts,
                             "lang": ["en"] * len(texts)}), inp)
    out = tmp_path / "out"
    path = pipeline({"input": {"reader": "parquet", "paths": [str(inp)], "id_field": "doc", "source": "mine",
                               "keep_columns": ["lang"]},
                     "steps": [{"filter.length": {"min_words": 100}}], "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    assert 0 < kept.height < len(texts)
    assert kept["id"].str.starts_with("user-").all() and (kept["lang"] == "en").all()
    assert (kept["source"] == "mine").all()
