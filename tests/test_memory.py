"""Bounded memory: peak RSS of a run barely grows when the input grows fourfold."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.shards import write_shards
from tests.test_steps import sample_texts

PROBE = ("import resource, subprocess, sys; "
         "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_kib(tmp_path, copies: int) -> int:
    docs = [{"id": str(i), "text": t, "source": "sample"} for i, t in enumerate(sample_texts())]
    folder = tmp_path / f"in-{copies}x"
    write_shards(folder, docs, shards=1, copies=copies)
    config = {"name": "rss", "input": {"reader": "jsonl", "paths": [f"{folder}/*.jsonl.gz"], "batch_size": 200},
              "steps": [{"normalize.unicode": {}}, {"filter.length": {"min_words": 20}}, {"dedup.exact": {}},
                        {"filter.gopher.repetition": {}}],
              "output": {"path": str(tmp_path / f"out-{copies}x"), "max_shard_mb": 8},
              "executor": {"kind": "local", "workers": 1}}
    path = tmp_path / f"rss-{copies}.yaml"
    path.write_text(yaml.safe_dump(config))
    res = subprocess.run([sys.executable, "-c", PROBE, sys.executable, "-m", "pipelines.cli", "run", str(path)],
                         check=True, capture_output=True, text=True)
    return int(res.stdout.strip())


@pytest.mark.slow
def test_peak_rss_at_4x_input_within_20_percent_of_1x(tmp_path):
    one = peak_rss_kib(tmp_path, 1)
    four = peak_rss_kib(tmp_path, 4)
    assert four <= 1.2 * one, f"peak RSS 1x {one / 1024:.0f} MiB, 4x {four / 1024:.0f} MiB"
