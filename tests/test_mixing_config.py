"""The mix YAML: errors name the file, line and key; caps become per-domain bounds at the target scale;
the run folder is named by what decides the sweep."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mixing.config import load_plan
from provenance.yamlfile import ConfigError
from tests.test_mixing_support import DOMAINS, TOKENS, write_config


def errors_of(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_plan(path, list(overrides))
    return "\n".join(info.value.errors)


def test_defaults_resolve_token_prior_and_epoch_caps(tmp_path):
    plan = load_plan(write_config(tmp_path))
    d = plan.domains
    assert d.names == DOMAINS
    np.testing.assert_allclose(d.prior, np.array(TOKENS) / sum(TOKENS))
    # code/py has 500k tokens: 4 epochs of it is 2M of the target's 10M tokens -> at most 0.2
    np.testing.assert_allclose(d.upper, [0.7, 0.7, 0.4, 0.2])
    assert plan.objective == {f"loss/{n}": 0.25 for n in DOMAINS}
    assert plan.metrics[:4] == [f"loss/{n}" for n in DOMAINS] and plan.metrics[4] == "bpb/web/wiki"
    assert plan.run_dir.name == f"test-{plan.sweep_hash[:12]}"


def test_run_folder_hash_ignores_parallel_but_not_the_sweep(tmp_path):
    path = write_config(tmp_path)
    base = load_plan(path).run_dir
    assert load_plan(path, ["sweep.parallel=2"]).run_dir == base
    assert load_plan(path, ["objective={loss/web/wiki: 1.0}"]).run_dir == base
    assert load_plan(path, ["sweep.proxies=25"]).run_dir == base  # a sweep can grow in its folder
    assert load_plan(path, ["sweep.proxy.tokens=200000"]).run_dir != base
    assert load_plan(path, ["seed=1"]).run_dir != base
    assert load_plan(path, ["target.tokens=20000000"]).run_dir != base  # moves the epoch caps


def test_errors_name_file_line_and_key(tmp_path):
    path = write_config(tmp_path, caps={"max_weight": {"web/wikk": 0.5}, "pinned": {"news/abc": 2}},
                        objective={"loss/nope": 1.0}, sweep={"proxies": 0, "proxy": {"tokens": 10}})
    text = errors_of(path)
    lines = path.read_text().splitlines()
    assert "sweep.proxies: Input should be greater than 0" in text
    line_of_proxies = next(i for i, line in enumerate(lines, 1) if "proxies: 0" in line)
    assert f"{path}:{line_of_proxies}: sweep.proxies" in text
    text = errors_of(write_config(tmp_path, caps={"max_weight": {"web/wikk": 0.5}, "pinned": {"news/abc": 2}},
                                  objective={"loss/nope": 1.0}))
    assert "caps.max_weight.web/wikk: not a domain" in text
    assert "caps.pinned.news/abc: 2 is not a weight" in text
    assert "objective.loss/nope: not a metric column" in text


def test_infeasible_caps_are_reported(tmp_path):
    text = errors_of(write_config(tmp_path), ["caps.max_weight=0.2"])
    assert "the caps allow at most 0.8 of the mixture in all" in text
    text = errors_of(write_config(tmp_path), ["caps.min_weight={code/py: 0.3}"])
    assert "code/py: min_weight 0.3 is above the largest weight allowed, 0.2" in text
    text = errors_of(write_config(tmp_path), ["caps.pinned={web/wiki: 0.6, news/abc: 0.5}"])
    assert "add up to 1.1, more than 1" in text


def test_missing_shards_and_unknown_domains(tmp_path):
    assert "has no meta.json" in errors_of(write_config(tmp_path), [f"tokens={tmp_path / 'nowhere'}"])
    assert "domains.1: 'nope' is not in" in errors_of(write_config(tmp_path, domains=["web/wiki", "nope"]))
    assert "set target.tokens" in errors_of(write_config(tmp_path, target=None))
    assert "set `tokens`" in errors_of(write_config(tmp_path, tokens=None, sweep=None))


def test_pinned_domain_has_equal_bounds(tmp_path):
    plan = load_plan(write_config(tmp_path), ["caps.pinned={books/pg: 0.15}", "caps.min_weight={news/abc: 0.1}"])
    i, j = DOMAINS.index("books/pg"), DOMAINS.index("news/abc")
    assert plan.domains.lower[i] == plan.domains.upper[i] == 0.15
    assert plan.domains.lower[j] == 0.1


def test_swarm_config_reads_domains_from_the_csv(tmp_path):
    (tmp_path / "m.csv").write_text("index,a,b\n0,0.5,0.5\n1,0.2,0.8\n")
    (tmp_path / "l.csv").write_text("index,metric/a_loss\n0,3.0\n1,3.5\n")
    config = {"name": "refit", "out": str(tmp_path / "o"),
              "swarm": {"mixtures": str(tmp_path / "m.csv"), "metrics": str(tmp_path / "l.csv")}}
    path = tmp_path / "refit.yaml"
    path.write_text(yaml.safe_dump(config))
    assert "objective: name the metric column(s) to minimise" in errors_of(path)
    config["objective"] = {"metric/a_loss": 1.0}
    path.write_text(yaml.safe_dump(config))
    plan = load_plan(path)
    assert plan.domains.names == ["a", "b"]
    np.testing.assert_allclose(plan.domains.prior, [0.35, 0.65])  # the swarm's mean mixture
    assert plan.domains.tokens is None
    config["caps"] = {"max_epochs": 2}
    path.write_text(yaml.safe_dump(config))
    assert "caps.max_epochs: needs `tokens`" in errors_of(path)


def test_exact_solve_needs_the_loglinear_law(tmp_path):
    text = errors_of(write_config(tmp_path), ["fit.law=lightgbm", "propose.method=solve"])
    assert "propose.method: the exact solve needs fit.law: loglinear" in text
