"""Laws: fit on runs drawn from a known mixing law, they rank unseen mixtures as the truth does;
`fit_csv` refits a swarm written elsewhere in RegMix's CSV layout."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mixing.api import fit_csv
from mixing.laws import LogLinearLaw, cross_validate, evaluate, fit_law, scores
from provenance.yamlfile import ConfigError
from tests.test_mixing_support import C, T, true_losses


def swarm(n: int, seed: int = 0, noise: float = 0.002):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(4, 0.7), size=n)
    return weights, true_losses(weights) + rng.normal(0, noise, (n, 4))


def test_loglinear_law_recovers_the_true_law():
    weights, losses = swarm(48)
    law = fit_law("loglinear", weights, losses[:, 2])
    assert isinstance(law, LogLinearLaw)
    assert law.c == pytest.approx(C[2], abs=0.05)
    np.testing.assert_allclose(law.t, T[2], atol=0.1)
    unseen = np.random.default_rng(9).dirichlet(np.ones(4), size=300)
    assert scores(law.predict(unseen), true_losses(unseen)[:, 2])["spearman"] > 0.99


def test_ridge_keeps_the_law_finite_where_runs_do_not_pin_it_down():
    """Loss that does not depend on the mixture, and a domain whose weight barely varied: without the
    ridge term the fit reaches |t| ~ 1e4 and predicts ~1e14 at the uniform mixture."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        weights = np.column_stack([rng.dirichlet(np.ones(5), size=12) * 0.99, rng.uniform(0.001, 0.0125, 12)])
        weights /= weights.sum(axis=1, keepdims=True)
        law = LogLinearLaw.fit(weights, 8 + rng.normal(0, 0.02, 12))
        assert np.abs(law.t - law.t.mean()).max() < 50
        assert abs(law.predict(np.full(6, 1 / 6)) - 8) < 1


def test_gradient_matches_finite_differences():
    law = LogLinearLaw(1.0, np.array([0.3, -1.2, 0.8]))
    w, h = np.array([0.2, 0.5, 0.3]), 1e-6
    numeric = [(law.predict(w + h * e) - law.predict(w - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(law.gradient(w), numeric, rtol=1e-5)


@pytest.mark.parametrize("kind, runs", [("loglinear", 32), ("lightgbm", 128)])
def test_cross_validation_ranks_held_out_runs(kind, runs):
    weights, losses = swarm(runs, seed=1)
    predicted = cross_validate(kind, weights, losses[:, 3], folds=5, seed=0)
    result = scores(predicted, losses[:, 3])
    assert result["spearman"] > 0.95 and result["n"] == runs


def test_objective_of_several_metrics_is_fit_metric_by_metric():
    weights, losses = swarm(40, seed=3)
    result = evaluate(weights, {f"loss/{i}": losses[:, i] for i in range(4)}, {f"loss/{i}": 0.25 for i in range(4)},
                      folds=5, seed=0)
    law = result["loglinear"]
    assert law["objective"]["spearman"] > 0.95 and set(law["metrics"]) == {f"loss/{i}" for i in range(4)}
    assert len(law["predicted"]) == 40 and law["actual"][0] == pytest.approx(losses[0].mean())


def test_cross_validation_skips_runs_without_the_metric():
    weights, losses = swarm(30)
    values = losses[:, 0].copy()
    values[[3, 17]] = np.nan
    predicted = cross_validate("loglinear", weights, values, folds=5, seed=0)
    assert np.isnan(predicted[[3, 17]]).all() and not np.isnan(np.delete(predicted, [3, 17])).any()


def test_refit_from_regmix_layout_csvs(tmp_path):
    weights, losses = swarm(64, seed=2)
    domains = ["train_the_pile_arxiv", "train_the_pile_github", "train_the_pile_pile_cc", "train_the_pile_freelaw"]
    pl.DataFrame({"index": range(1, 65), **{d: weights[:, i] for i, d in enumerate(domains)}}).write_csv(
        tmp_path / "train_mixture.csv")
    # RegMix's loss file lists only some domains, in another order
    pl.DataFrame({"index": range(1, 65), "metric/the_pile_pile_cc_val_loss": losses[:, 2],
                  "metric/the_pile_arxiv_val_loss": losses[:, 0]}).write_csv(tmp_path / "train_loss.csv")
    result = fit_csv(tmp_path / "train_mixture.csv", tmp_path / "train_loss.csv",
                     ["metric/the_pile_pile_cc_val_loss"], out=str(tmp_path / "out"))
    assert result["runs"] == 64
    assert result["laws"]["loglinear"]["objective"]["spearman"] > 0.95
    assert result["laws"]["lightgbm"]["objective"]["spearman"] > 0.8
    (run_dir,) = (tmp_path / "out").iterdir()
    assert json.loads((run_dir / "fit.json").read_text())["law"] == "loglinear"
    assert (run_dir / "report.md").is_file() and (run_dir / "fit.png").is_file()


def test_refit_joins_by_row_order_without_index(tmp_path):
    weights, losses = swarm(20)
    pl.DataFrame({"a": weights[:, 0], "b": weights[:, 1], "c": weights[:, 2], "d": weights[:, 3]}).write_csv(
        tmp_path / "m.csv")
    pl.DataFrame({"target": losses[:, 1]}).write_csv(tmp_path / "l.csv")
    result = fit_csv(tmp_path / "m.csv", tmp_path / "l.csv", {"target": 1.0}, out=str(tmp_path / "out"))
    assert result["runs"] == 20 and result["laws"]["loglinear"]["objective"]["spearman"] > 0.9
    pl.DataFrame({"target": losses[:5, 1]}).write_csv(tmp_path / "short.csv")
    with pytest.raises(ConfigError, match="rows must match one to one"):
        fit_csv(tmp_path / "m.csv", tmp_path / "short.csv", ["target"], out=str(tmp_path / "out"))
