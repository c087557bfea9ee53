"""Sweep: draws keep every cap, are seeded and distinct; proxies run through one train function,
land in RegMix-layout CSVs, and a rerun trains only what is not finished."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import yaml

from mixing.config import load_plan
from mixing.cost import sweep_cost
from mixing.proxies import ProxyFailed
from mixing.simplex import project, round_to_grid, within_caps
from mixing.sweep import draw_mixtures, run_sweep
from mixing.validate import seeded_jobs
from provenance.yamlfile import ConfigError
from tests.test_mixing_support import DOMAINS, fake_train, trained_count, write_config


@pytest.fixture
def plan(tmp_path):
    return load_plan(write_config(tmp_path), ["caps.pinned={books/pg: 0.1}", "caps.min_weight={news/abc: 0.05}"])


def test_draws_never_break_caps(plan):
    d = plan.domains
    for seed in range(3):
        draws = draw_mixtures(d, 200, [0.1, 1.0, 10.0], seed, decimals=3)
        assert within_caps(draws, d.lower, d.upper).all()
        assert np.all(draws[:, DOMAINS.index("books/pg")] == 0.1)
        assert np.all(draws <= d.upper + 1e-12) and np.all(draws >= d.lower - 1e-12)
        np.testing.assert_array_equal(np.rint(draws * 1000) / 1000, draws)  # on the grid
        np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-12)


def test_same_seed_same_draws_other_seed_other_draws(plan):
    d = plan.domains
    a = draw_mixtures(d, 50, [0.5, 2.0], seed=7, decimals=4)
    np.testing.assert_array_equal(a, draw_mixtures(d, 50, [0.5, 2.0], seed=7, decimals=4))
    b = draw_mixtures(d, 50, [0.5, 2.0], seed=8, decimals=4)
    assert not any((row == b).all(axis=1).any() for row in a)


def test_a_larger_sweep_starts_with_the_smaller_one(plan):
    small = draw_mixtures(plan.domains, 10, [0.5, 2.0, 8.0], seed=3, decimals=4)
    np.testing.assert_array_equal(draw_mixtures(plan.domains, 25, [0.5, 2.0, 8.0], seed=3, decimals=4)[:10], small)


def test_draws_are_distinct_and_avoid_given_mixtures(plan):
    d = plan.domains
    draws = draw_mixtures(d, 300, [0.05], seed=0, decimals=2)  # sparse draws collide often on a coarse grid
    assert len(np.unique(draws, axis=0)) == 300
    more = draw_mixtures(d, 50, [0.05], seed=0, decimals=2, avoid=draws, stream=1)
    assert not any((row == draws).all(axis=1).any() for row in more)


def test_too_tight_for_distinct_draws_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("mixing.sweep.MAX_DRAWS", 50_000)
    plan = load_plan(write_config(tmp_path), ["decimals=1", "caps.pinned={books/pg: 0.1, code/py: 0.1}"])
    with pytest.raises(ConfigError, match="no new distinct mixture at concentration 1"):
        draw_mixtures(plan.domains, 50, [1.0], seed=0, decimals=1)  # only 7 points on this grid


def test_rounding_and_projection_keep_caps():
    lower, upper = np.array([0.1, 0.0, 0.0, 0.05]), np.array([0.5, 0.3333, 0.6, 0.05])
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = project(rng.dirichlet(np.ones(4)), lower, upper)
        assert within_caps(w, lower, upper)
        r = round_to_grid(w, lower, upper, 3)
        assert within_caps(r, lower, upper) and np.abs(r - w).max() <= 0.002


def test_sweep_writes_regmix_layout_and_resumes(tmp_path):
    plan = load_plan(write_config(tmp_path))
    calls = []

    def crashing(config, out_dir):
        if len(calls) == 10:
            raise RuntimeError("out of memory")
        calls.append(out_dir)
        return fake_train(config, out_dir)

    with pytest.raises(ProxyFailed, match="14 of 24 proxies failed"):
        run_sweep(plan, crashing)
    run_dir = plan.run_dir
    assert len(pl.read_csv(run_dir / "metrics.csv")) == 10
    assert "out of memory" in (run_dir / "proxies" / "00010" / "error.txt").read_text()

    calls.clear()
    run_sweep(plan, lambda config, out_dir: calls.append(out_dir) or fake_train(config, out_dir))
    assert len(calls) == 14  # only the unfinished ones
    assert trained_count(run_dir) == 24
    mixtures, metrics = pl.read_csv(run_dir / "mixtures.csv"), pl.read_csv(run_dir / "metrics.csv")
    assert mixtures.columns == ["index", *DOMAINS] and len(mixtures) == 24
    assert metrics.columns == ["index", *(f"loss/{n}" for n in DOMAINS), *(f"bpb/{n}" for n in DOMAINS)]
    assert metrics["index"].to_list() == list(range(24))
    sweep = json.loads((run_dir / "sweep.json").read_text())
    assert sweep["finished"] == 24 and 0 < sweep["cost"]["spent_percent_of_target"] < 100

    calls.clear()
    run_sweep(plan, lambda config, out_dir: calls.append(out_dir) or fake_train(config, out_dir))
    assert calls == []

    grown = load_plan(write_config(tmp_path), ["sweep.proxies=30"])
    assert grown.run_dir == run_dir
    run_sweep(grown, lambda config, out_dir: calls.append(out_dir) or fake_train(config, out_dir))
    assert len(calls) == 6 and len(pl.read_csv(run_dir / "metrics.csv")) == 30


def test_a_result_of_another_job_does_not_count_as_finished(tmp_path):
    """result.json is a proxy's marker only for the job (digest) that wrote it: one left in the same
    folder by other settings (say, precision resolved on another machine) is trained again."""
    plan = load_plan(write_config(tmp_path), ["sweep.proxies=2"])
    run_sweep(plan, fake_train)
    marker = plan.run_dir / "proxies" / "00001" / "result.json"
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({**record, "job": "another"}))
    calls = []
    run_sweep(plan, lambda config, out_dir: calls.append(out_dir) or fake_train(config, out_dir))
    assert [out_dir.parent.name for out_dir in calls] == ["00001"]
    assert json.loads(marker.read_text())["job"] == record["job"]


def test_proxy_train_config_is_one_stage_on_its_mixture(tmp_path):
    plan = load_plan(write_config(tmp_path), ["sweep.proxies=2", "sweep.proxy.micro_batch=4",
                                              "sweep.proxy.eval={max_tokens_per_source: 4096}"])
    configs = []
    run_sweep(plan, lambda config, out_dir: configs.append(config) or fake_train(config, out_dir))
    config = configs[0]
    assert config["micro_batch"] == 4 and config["export"] is False and config["model"] == {"size": "tiny"}
    assert config["eval"] == {"every": 0, "max_tokens_per_source": 4096}
    (stage,) = config["stages"]
    assert stage["tokens"] == 100_000 and stage["lr"]["schedule"] == "cosine"
    mixture = stage["mixture"]
    assert mixture.endswith("proxies/00000/mixture.yaml") and config["out"].endswith("proxies/00000/train")
    assert [c["seed"] for c in configs] == [0, 1]  # each proxy its own init and data order
    assert yaml.safe_load((plan.run_dir / "proxies" / "00001" / "mixture.yaml").read_text())["seed"] == 1


def test_parallel_sweep_in_worker_processes(tmp_path):
    plan = load_plan(write_config(tmp_path), ["sweep.proxies=4", "sweep.parallel=2"])
    run_sweep(plan, fake_train)
    assert trained_count(plan.run_dir) == 4
    assert len(pl.read_csv(plan.run_dir / "metrics.csv")) == 4


def test_sweep_cost_counts_embedding_and_output_layers():
    proxy = {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 192}
    target = {"dim": 256, "n_layers": 4, "n_heads": 8, "n_kv_heads": 4, "ffn_dim": 768}

    def by_hand(m, seq_len, vocab=8192):
        kv = m["n_kv_heads"] * m["dim"] // m["n_heads"]
        per_layer = 2 * m["dim"] ** 2 + 2 * m["dim"] * kv + 3 * m["dim"] * m["ffn_dim"]
        matrices = m["n_layers"] * per_layer + 2 * vocab * m["dim"]  # + embedding table and output layer
        return 6 * matrices + 6 * m["n_layers"] * seq_len * m["dim"]

    cost = sweep_cost(proxy, 128, 100_000, 32, target, 512, 50_000_000, 8192)
    assert cost["proxy_flops"] == pytest.approx(32 * 100_000 * by_hand(proxy, 128))
    assert cost["percent_of_target"] == pytest.approx(100 * cost["proxy_flops"] / (50_000_000 * by_hand(target, 512)))


def test_validation_seeds_change_data_order_and_init(tmp_path):
    plan = load_plan(write_config(tmp_path, seed=5))
    jobs = seeded_jobs(plan, {"uniform": np.full(4, 0.25)}, plan.config.sweep.proxy.model_dump(), seeds=3)
    assert [job.label for job in jobs] == ["uniform/seed-0", "uniform/seed-1", "uniform/seed-2"]
    assert [job.seed for job in jobs] == [5, 6, 7]  # the mixture file's seed: data order
    assert [job.train_config()["seed"] for job in jobs] == [5, 6, 7]  # the model's initialisation
    assert len({job.digest for job in jobs}) == 3


def test_proxy_precision_is_pinned_so_a_resumed_sweep_never_mixes_precisions():
    """`precision: auto` is resolved when the jobs are made, so it is part of each proxy's identity."""
    import torch

    from mixing.proxies import pinned_precision
    from train.parallelize import use_bf16

    tiny = pinned_precision({"tokens": 1000, "model": {"size": "tiny"}, "device": "cpu"})
    assert tiny["precision"] == "fp32"  # width 64: bf16 would be slower on any CPU
    small = pinned_precision({"tokens": 1000, "model": {"size": "tiny", "dim": 256}, "device": "cpu"})
    assert small["precision"] == ("bf16" if use_bf16("auto", torch.device("cpu"), 256) else "fp32")
    assert pinned_precision({"tokens": 1000, "precision": "bf16"})["precision"] == "bf16"
