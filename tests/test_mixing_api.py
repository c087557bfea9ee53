"""The four verbs end to end with a fake trainer that follows a known law: sweep -> fit -> propose ->
validate, the proposal beating the natural, uniform and temperature baselines, and the report."""

from __future__ import annotations

import json

import pytest

from mixing.api import fit, propose, sweep, validate
from provenance.yamlfile import ConfigError
from tests.test_mixing_support import fake_train, trained_count, write_config


def test_sweep_fit_propose_validate(tmp_path):
    config = write_config(tmp_path)
    with pytest.raises(ConfigError, match="run `gristmill mix sweep` first"):
        fit(config)
    run_dir = sweep(config, train_fn=fake_train)
    assert trained_count(run_dir) == 24

    result = fit(config)
    assert result["runs"] == 24 and result["laws"]["loglinear"]["objective"]["spearman"] > 0.9

    with pytest.raises(ConfigError, match="run `gristmill mix propose` first"):
        validate(config, train_fn=fake_train)
    mixture = propose(config)
    assert mixture == run_dir / "mixture.yaml"

    report = validate(config, train_fn=fake_train)
    assert trained_count(run_dir / "validate") == 21  # proposed, 3 baselines, 3 random; 3 seeds each
    validation = json.loads((run_dir / "validation.json").read_text())
    assert validation["seeds"] == 3
    for run in validation["runs"]:
        assert len(run["per_seed"]) == 3 and len(set(run["per_seed"])) == 3  # the seeds differ
        assert 0 < run["se"] < 0.01 and abs(run["actual"] - sum(run["per_seed"]) / 3) < 1e-12
    for gap in validation["proposed_minus_baseline"].values():
        assert gap["difference"] < 0 and gap["se"] < -gap["difference"] and gap["paired_se"] > 0
    assert validation["scores"]["spearman"] > 0.9
    text = report.read_text()
    for heading in ("## Sweep", "## Fit", "## Proposal", "## Validation"):
        assert heading in text
    assert "The proposal beats every baseline by more than the combined standard error" in text
    for png in ("fit.png", "weights.png", "losses.png"):
        assert (run_dir / png).stat().st_size > 5000

    validate(config, train_fn=fake_train)  # resumes: nothing to train again
    assert trained_count(run_dir / "validate") == 21
