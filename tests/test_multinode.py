"""`gristmill train --nnodes`: the torchrun command of every node, and two local processes acting as two
machines that meet at a c10d rendezvous and train as one run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from provenance.yamlfile import ConfigError
from tests import test_train
from tests.conftest import ROOT
from tests.test_train import losses, train_config
from train.config import TrainConfig
from train.launch import Launch, launch

ENTRY = ["-m", "pipelines.cli", "train", "cfg.yaml"]


def test_without_a_node_rank_every_node_command_is_printed():
    lines = []
    plan = Launch(nproc=8, nnodes=2, rdzv_endpoint="node0:29500", rdzv_id="job")
    assert launch(plan, ENTRY, print_line=lines.append) == 0
    assert lines[0].startswith("# 2 machines x 8 processes")
    for rank, line in enumerate(lines[1:]):
        assert line == (f"torchrun --nnodes=2 --nproc-per-node=8 --node-rank={rank} --rdzv-backend=c10d "
                        "--rdzv-endpoint=node0:29500 --rdzv-id=job -m pipelines.cli train cfg.yaml")
    assert len(lines) == 3


@pytest.mark.parametrize("options, message", [
    ({"nnodes": 2}, "give --rdzv-endpoint"),
    ({"nnodes": 2, "rdzv_endpoint": "node0"}, "expected HOST:PORT"),
    ({"nnodes": 2, "rdzv_endpoint": "node0:1", "node_rank": 2}, "expected 0..1"),
    ({"node_rank": 0}, "give --nnodes too"),
    ({"nproc": 0}, "--nproc 0"),
])
def test_a_bad_combination_is_named(options: dict, message: str):
    with pytest.raises(ConfigError) as err:
        Launch(**options)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_the_train_verb_takes_the_options():
    from pipelines.cli import build_parser

    args = build_parser().parse_args(["train", "x.yaml", "--nnodes", "2", "--nproc", "4", "--node-rank", "1",
                                      "--rdzv-endpoint", "h:1"])
    assert (args.nnodes, args.nproc, args.node_rank, args.rdzv_endpoint) == (2, 4, 1, "h:1")


tokens = test_train.tokens  # the same token-shard fixture as the trainer's tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_meet_at_the_endpoint_and_train_as_one_run(tokens: Path, tmp_path: Path, capsys):
    """Node 0 and node 1 (one process each, gloo) against one process accumulating both micro-batches:
    the same global batch of 8, so the same losses; 3 steps of 8 sequences say both ranks took part."""
    from pipelines.cli import main
    from train.trainer import train

    stage = {"tokens": 64 * 8 * 3, "lr": {"peak": 3e-3, "warmup_steps": 1}}
    one = train_config(tokens, tmp_path / "one", micro_batch=4, grad_accum=2, precision="fp32")
    one["stages"][0].update(stage)
    train(TrainConfig.model_validate(one))

    two = train_config(tokens, tmp_path / "two", micro_batch=4, grad_accum=1, precision="fp32")
    two["stages"][0].update(stage)
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(two))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    endpoint = f"127.0.0.1:{free_port()}"
    capsys.readouterr()  # the reference run's progress lines
    assert main(["train", str(path), "--nnodes", "2", "--rdzv-endpoint", endpoint]) == 0  # prints, runs nothing
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3, printed
    for rank, line in enumerate(printed[1:]):
        assert line.startswith("torchrun --nnodes=2 --nproc-per-node=1 ") and line.endswith(f"train {path}")
        assert f"--node-rank={rank} --rdzv-backend=c10d --rdzv-endpoint={endpoint} --rdzv-id=gristmill-" in line
    nodes = [subprocess.Popen([sys.executable, "-m", "pipelines.cli", "train", str(path), "--nnodes", "2",
                               "--nproc", "1", "--node-rank", str(rank), "--rdzv-endpoint", endpoint],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) for rank in (0, 1)]
    try:
        outputs = [node.communicate(timeout=240)[0] for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    assert sum("trained 3 steps, 1,536 tokens" in out for out in outputs) == 1, outputs  # rank 0 reports

    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert (summary["steps"], summary["tokens"]) == (3, 3 * 8 * 64)
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-4)
