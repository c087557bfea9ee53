"""The whole mixing recipe from the CLI with the real trainer: sweep -> fit -> propose -> validate,
then `gristmill train` on the proposed mixture file unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curate.executors.local import LocalExecutor, LocalParams
from tests.conftest import ROOT
from tests.test_train import curated_parquet
from train.tokenize import TokenizeConfig, tokenize


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_sweep_fit_propose_validate_then_train_on_the_proposal(tmp_path: Path):
    curated_parquet(tmp_path / "curated")
    tokenize(TokenizeConfig(inputs=[str(tmp_path / "curated" / "*.parquet")], output=str(tmp_path / "tokens"),
                            tokenizer={"vocab_size": 1024, "sample_mb": 2}, validation_fraction=0.05),
             LocalExecutor(LocalParams(workers=2)), progress=lambda _: None)
    config = yaml.safe_load((ROOT / "pipelines" / "mix.yaml").read_text())
    config.update(out=str(tmp_path / "mix"), tokens=str(tmp_path / "tokens"),
                  domains=["books/gutenberg", "code/python-stdlib", "news/abc", "web/wikipedia"])
    config["target"]["tokens"] = 400_000
    config["sweep"].update(proxies=10, parallel=2)
    config["sweep"]["proxy"].update(tokens=16384, seq_len=64, micro_batch=8)
    config["validate"] = {"random": 2, "temperature": 3.0, "seeds": 2}
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(config))

    cli("mix", "sweep", str(path))
    run = next((tmp_path / "mix").glob("mix-demo-*"))
    mixtures = (run / "mixtures.csv").read_text().splitlines()
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert len(mixtures) == len(metrics) == 11  # header + one row per proxy
    assert "loss/web/wikipedia" in metrics[0] and "bpb/web/wikipedia" in metrics[0]
    log = cli("mix", "sweep", str(path))  # finished proxies are not trained again
    assert "proxies: 10 of 10 tasks already done" in log, log

    cli("mix", "fit", str(path))
    fit = json.loads((run / "fit.json").read_text())
    assert set(fit["laws"]) == {"loglinear", "lightgbm"}

    cli("mix", "propose", str(path))
    proposal = yaml.safe_load((run / "mixture.yaml").read_text())
    assert abs(sum(proposal["weights"].values()) - 1) < 1e-6

    cli("mix", "validate", str(path))
    validation = json.loads((run / "validation.json").read_text())
    assert {"natural", "uniform", "temperature"} <= set(validation["proposed_minus_baseline"])
    assert all(len(run["per_seed"]) == 2 for run in validation["runs"])
    report = (run / "report.md").read_text()
    assert "Spearman" in report and list(run.glob("*.png"))

    train = {"out": str(tmp_path / "train"), "model": {"size": "tiny"}, "seq_len": 64, "micro_batch": 8,
             "stages": [{"mixture": str(run / "mixture.yaml"), "tokens": 8192, "lr": {"peak": 3e-3}}],
             "export": False}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    cli("train", str(tmp_path / "train.yaml"))
    assert json.loads((tmp_path / "train" / "summary.json").read_text())["steps"] == 16
