"""Mistakes and faults end a run loudly instead of leaving an empty or wrong output: a step failing on
most documents, a reader finding nothing, changed inputs, a second run on the same folder, a folder
that is not a gristmill run, an output that cannot be written."""

from __future__ import annotations

import fcntl
import gzip
import json
import subprocess
import sys

import pyarrow as pa

from curate.engine.layout import Layout
from curate.engine.run import output_lock
from curate.engine.step import Filter, FilterResult, register
from pipelines.cli import main


@register("test.fails_on_long")
class FailsOnLong(Filter):
    """Raises on every document longer than 2,000 characters (a broken model would raise on all)."""

    def keep(self, batch: pa.RecordBatch) -> FilterResult:
        keep, reasons = [], []
        for text in batch.column("text").to_pylist():
            try:
                if len(text) > 2000:
                    raise FileNotFoundError("/tmp/nomodel.bin")
                keep.append(True)
                reasons.append(None)
            except FileNotFoundError as err:
                keep.append(False)
                reasons.append(self.failed(err))
        return FilterResult(pa.array(keep).to_numpy(zero_copy_only=False), pa.array(reasons).to_numpy(zero_copy_only=False))


def jsonl(sample, **extra) -> dict:
    return {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source", **extra}


def test_a_step_failing_on_most_documents_ends_the_run(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": jsonl(sample), "steps": [{"test.fails_on_long": {}}]})
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "0:test.fails_on_long failed on" in err and "FileNotFoundError: /tmp/nomodel.bin" in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_step_failing_within_the_budget_is_counted(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline({"input": jsonl(sample), "steps": [{"test.fails_on_long": {}}],
                     "error_budget": {"docs": 100000, "share": 1.0}, "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    removed = json.loads((out / "manifest.json").read_text())["steps"][0]["removed"]
    assert removed["error:FileNotFoundError"] > 100


def test_a_model_file_that_does_not_exist_fails_validate(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": jsonl(sample), "steps": [{"filter.datatrove": {
        "name": "FastTextClassifierFilter", "params": {"model_url": "/tmp/nomodel.bin"}}}]})
    assert main(["validate", str(path)]) == 2
    assert "model_url: /tmp/nomodel.bin does not exist" in capsys.readouterr().err


def test_fields_the_input_names_are_checked_before_the_run(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": jsonl(sample, text_field="body", source_field="nosuchcol")})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "input.text_field:" in err and "has no 'body' in its first 20 lines" in err
    assert "input.source_field: no input file has 'nosuchcol'" in err


def test_a_reader_that_finds_nothing_ends_the_run(tmp_path, sample, pipeline, capsys):
    nulls = tmp_path / "nulls"
    nulls.mkdir()
    for f in sorted(sample.glob("*.jsonl.gz"))[:2]:  # real records whose text is not a string
        rows = [json.loads(x) for x in gzip.decompress(f.read_bytes()).splitlines()[:30]]
        (nulls / f.name.replace(".gz", "")).write_text("".join(json.dumps({**r, "text": None}) + "\n" for r in rows))
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{nulls}/*.jsonl"]}})
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "found no documents in 2 non-empty input file(s)" in err and "60 missing_text" in err
    fixed = pipeline({"input": jsonl(sample)}, "fixed.yaml")  # a corrected config just runs
    assert main(["run", str(fixed)]) == 0


def test_changed_inputs_are_noticed(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": jsonl(sample)})
    assert main(["run", str(path)]) == 0
    victim = sorted(sample.glob("*.jsonl.gz"))[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # cut, as a re-download would
    assert main(["run", str(path)]) == 2
    assert f"{victim} changed since this run read it" in capsys.readouterr().err
    assert main(["run", str(path), "--overwrite"]) == 0


def test_one_run_per_output_folder(tmp_path, sample, pipeline, capsys):
    out = tmp_path / "out"
    path = pipeline({"input": jsonl(sample), "output": {"path": str(out)}})
    with output_lock(Layout(out)):
        assert main(["run", str(path)]) == 2
    assert "is being written by another gristmill run (pid" in capsys.readouterr().err
    (out / ".gristmill.lock").write_text("pid 999999 on a crashed host")  # stale: nobody holds it
    assert main(["run", str(path)]) == 0
    assert not (out / ".gristmill.lock").exists()


def test_a_held_lock_blocks_a_run_in_another_process(tmp_path, sample, pipeline):
    out = tmp_path / "out"
    path = pipeline({"input": jsonl(sample), "output": {"path": str(out)}})
    out.mkdir()
    with open(out / ".gristmill.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write("pid 1 (the test)")
        f.flush()
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(path)], capture_output=True, text=True)
    assert done.returncode == 2 and "pid 1 (the test)" in done.stderr


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, sample, pipeline, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    path = pipeline({"input": jsonl(sample), "output": {"path": str(out)}})
    assert main(["run", str(path), "--overwrite"]) == 2
    assert "not a gristmill run (thesis.tex" in capsys.readouterr().err
    assert (out / "thesis.tex").exists()
    assert main(["run", str(path), "--overwrite", "--overwrite"]) == 0
    assert not (out / "thesis.tex").exists()


def test_an_output_that_cannot_be_created_fails_validate(tmp_path, sample, pipeline, capsys):
    (tmp_path / "afile").write_text("x")
    path = pipeline({"input": jsonl(sample), "output": {"path": str(tmp_path / "afile" / "out")}})
    assert main(["validate", str(path)]) == 2
    assert "afile is a file, not a folder" in capsys.readouterr().err


WRITE_LIMITED = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                 "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY)); "
                 "from pipelines.cli import main; sys.exit(main(sys.argv[2:]))")


def test_a_full_disk_ends_the_run_cleanly_and_the_rerun_finishes_identically(tmp_path, sample, pipeline):
    out, ref = tmp_path / "out", tmp_path / "ref"
    path = pipeline({"input": jsonl(sample), "steps": [{"dedup.exact": {}}], "output": {"path": str(out)}})
    full = subprocess.run([sys.executable, "-c", WRITE_LIMITED, "300000", "run", str(path)],
                          capture_output=True, text=True)
    assert full.returncode == 1, full.stderr
    assert "File too large" in full.stderr and "Traceback" not in full.stderr
    assert not list(out.rglob(".tmp-*"))
    assert main(["run", str(path)]) == 0
    assert main(["run", str(pipeline({"input": jsonl(sample), "steps": [{"dedup.exact": {}}],
                                      "output": {"path": str(ref)}}, "ref.yaml"))]) == 0
    assert {p.name: p.read_bytes() for p in out.glob("part-*")} == {p.name: p.read_bytes() for p in ref.glob("part-*")}
