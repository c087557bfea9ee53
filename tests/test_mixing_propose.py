"""Propose: the log-linear solve finds the true optimum under the caps, the tree search keeps them,
and the mixture YAML is what `gristmill train` reads, with the epochs each domain gets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml

from mixing.api import propose, sweep
from mixing.config import load_plan
from mixing.laws import LogLinearLaw
from mixing.propose import objective_of, search, solve
from mixing.simplex import within_caps
from provenance.yamlfile import ConfigError
from tests.test_mixing_support import DOMAINS, C, T, fake_train, write_config

TRUE_LAWS = {f"loss/{n}": LogLinearLaw(C[i], T[i]) for i, n in enumerate(DOMAINS)}
MEAN_LOSS = {f"loss/{n}": 0.25 for n in DOMAINS}
CAPS = ["caps.pinned={books/pg: 0.1}", "caps.min_weight={news/abc: 0.3}", "caps.max_weight={web/wiki: 0.25}"]


def grid_minimum(plan, step: int = 100) -> float:
    """The true objective's smallest value over every mixture on a 1/step grid that keeps the caps."""
    d = plan.domains
    a, b, c = (axis.ravel() for axis in np.mgrid[0:step + 1, 0:step + 1, 0:step + 1])
    inside = a + b + c <= step
    points = np.column_stack([a, b, c, step - a - b - c])[inside] / step
    points = points[within_caps(points, d.lower, d.upper)]
    return float(objective_of(TRUE_LAWS, MEAN_LOSS)(points).min())


@pytest.mark.parametrize("caps", [[], CAPS])
def test_solve_finds_the_true_minimum_under_the_caps(tmp_path, caps):
    plan = load_plan(write_config(tmp_path), caps)
    d = plan.domains
    w = solve(TRUE_LAWS, MEAN_LOSS, d, 0.0, [d.prior, np.full(4, 0.25)])
    assert within_caps(w, d.lower, d.upper)
    value = objective_of(TRUE_LAWS, MEAN_LOSS)(w)[0]
    assert value <= grid_minimum(plan) + 1e-9


def test_kl_to_prior_pulls_toward_the_prior(tmp_path):
    d = load_plan(write_config(tmp_path)).domains
    free = solve(TRUE_LAWS, MEAN_LOSS, d, 0.0, [d.prior])
    pulled = solve(TRUE_LAWS, MEAN_LOSS, d, 50.0, [d.prior])
    assert np.abs(pulled - d.prior).sum() < 0.2 * np.abs(free - d.prior).sum()


def test_search_keeps_caps_and_lands_near_the_minimum(tmp_path):
    plan = load_plan(write_config(tmp_path), CAPS)
    d = plan.domains
    predict = objective_of(TRUE_LAWS, MEAN_LOSS)
    w = search(predict, d, samples=20_000, top_k=20, concentrations=[1.0, 10.0], seed=0)
    assert within_caps(w, d.lower, d.upper)
    assert predict(w)[0] < grid_minimum(plan) + 0.01


@pytest.mark.parametrize("law, method", [("loglinear", "search"), ("loglinear", "solve"), ("lightgbm", "search")])
def test_proposed_mixture_respects_caps_and_is_trainable(tmp_path, law, method):
    overrides = [*CAPS, f"fit.law={law}", f"propose.method={method}", "propose.samples=20000"]
    sweep(write_config(tmp_path), overrides, train_fn=fake_train)
    path = propose(write_config(tmp_path), overrides)
    plan = load_plan(write_config(tmp_path), overrides)
    text = path.read_text()
    assert text.startswith("# proposed by `gristmill mix propose`")
    mixture = yaml.safe_load(text)
    assert mixture["tokens"] == plan.config.tokens and mixture["max_epochs"] == 4
    w = np.array([mixture["weights"][n] for n in DOMAINS])
    assert within_caps(w, plan.domains.lower, plan.domains.upper)
    assert mixture["weights"]["books/pg"] == 0.1 and mixture["weights"]["news/abc"] >= 0.3
    assert mixture["weights"]["web/wiki"] <= 0.25
    np.testing.assert_array_equal(np.round(w, 4), w)

    from train.data import MixtureConfig  # the reader `gristmill train` uses

    assert MixtureConfig.model_validate(mixture).weights == mixture["weights"]

    proposal = yaml.safe_load((plan.run_dir / "proposal.json").read_text())
    for row in proposal["epochs"]:
        assert row["epochs"] <= row["max_epochs"] + 1e-9
        assert row["epochs"] == pytest.approx(row["weight"] * 10_000_000 / row["available"])
    assert proposal["predicted_objective"] <= proposal["best_run"]["predicted_objective"]
    for baseline in proposal["baselines"].values():  # moved onto the caps: books/pg is pinned, not its share
        w = np.array([baseline["weights"][n] for n in DOMAINS])
        assert within_caps(w, plan.domains.lower, plan.domains.upper) and baseline["moved_by_caps"] > 0
        assert proposal["predicted_objective"] <= baseline["predicted_objective"]


def test_propose_from_a_swarm_made_elsewhere(tmp_path):
    rng = np.random.default_rng(4)
    weights = rng.dirichlet(np.ones(4), size=40)
    losses = objective_of(TRUE_LAWS, MEAN_LOSS)(weights)
    pl.DataFrame({"index": range(40), **{n: weights[:, i] for i, n in enumerate(DOMAINS)}}).write_csv(tmp_path / "m.csv")
    pl.DataFrame({"index": range(40), "mean_loss": losses}).write_csv(tmp_path / "l.csv")
    config = {"name": "refit", "out": str(tmp_path / "out"), "objective": {"mean_loss": 1.0},
              "swarm": {"mixtures": str(tmp_path / "m.csv"), "metrics": str(tmp_path / "l.csv")},
              "caps": {"max_weight": 0.35}}
    (tmp_path / "refit.yaml").write_text(yaml.safe_dump(config))
    mixture = yaml.safe_load(propose(tmp_path / "refit.yaml").read_text())
    assert "tokens" not in mixture and max(mixture["weights"].values()) <= 0.35
    assert sum(mixture["weights"].values()) == pytest.approx(1.0)


def test_propose_refuses_a_law_that_ranks_held_out_proxies_no_better_than_chance(tmp_path, caplog):
    """Losses unrelated to the mixture: the k-fold Spearman is near zero, so propose writes nothing
    unless forced (`gristmill mix propose --force`), and then warns with the figure."""
    from pipelines.cli import main

    def noise(config, out_dir):
        result = fake_train(config, out_dir)
        rng = np.random.default_rng(config["seed"])
        result.val = {d: {"loss": 3.0 + rng.normal(0, 0.1), "bpb": 1.0} for d in result.val}
        return result

    config = write_config(tmp_path)
    sweep(config, train_fn=noise)
    with pytest.raises(ConfigError, match=r"5-fold Spearman of -?0\.\d\d over 24 runs, below propose.min_spearman "
                                          r"0.3: .* or pass --force"):
        propose(config)
    plan = load_plan(config)
    assert not (plan.run_dir / "mixture.yaml").exists()
    assert main(["mix", "propose", str(config)]) == 2
    assert propose(config, ["propose.min_spearman=-1"]).is_file()  # the threshold is the config's
    (plan.run_dir / "mixture.yaml").unlink()
    caplog.clear()
    assert main(["mix", "propose", str(config), "--force"]) == 0
    assert (plan.run_dir / "mixture.yaml").is_file()
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "Spearman of" in warning.getMessage() and "proposing anyway (--force)" in warning.getMessage()
    rho = yaml.safe_load((plan.run_dir / "proposal.json").read_text())["held_out_spearman"]
    assert rho < 0.3 and f"{rho:.2f}" in warning.getMessage()
