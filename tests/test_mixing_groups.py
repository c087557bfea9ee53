"""Bounds on groups of domains (caps.groups, e.g. every synthetic source together between 0.33 and
0.67): the config names its errors before any proxy runs, and every sweep draw, projection, rounding
and proposal keeps the group totals inside their bounds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy.optimize import minimize

from mixing.api import propose, sweep
from mixing.config import load_plan
from mixing.propose import baselines, objective_of, search, solve
from mixing.simplex import Group, group_centre, group_sums, project, round_to_grid, within_caps
from mixing.sweep import draw_mixtures
from provenance.yamlfile import ConfigError
from tests.test_mixing_propose import MEAN_LOSS, TRUE_LAWS
from tests.test_mixing_support import DOMAINS, fake_train, write_config

# books/pg + code/py hold 0.2 of the token prior and 0.487 of the true law's unconstrained optimum,
# news/abc 0.11 of it: both groups bind, for the draws (prior outside) and for the proposal.
GROUPS = [{"name": "synthetic", "sources": ["books/*", "code/py"], "min": 0.3, "max": 0.4},
          {"name": "news", "sources": ["news/*"], "min": 0.15}]
SYNTHETIC, NEWS = [DOMAINS.index("books/pg"), DOMAINS.index("code/py")], DOMAINS.index("news/abc")


def grouped_config(tmp_path, groups=GROUPS, **caps):
    return write_config(tmp_path, caps={"max_epochs": 4, "max_weight": 0.7, **caps, "groups": groups})


def errors_of(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_plan(path, list(overrides))
    return "\n".join(info.value.errors)


def keeps_groups(weights: np.ndarray) -> np.ndarray:
    """Checked by hand, not through within_caps, so a bug there cannot hide one here."""
    w = np.atleast_2d(weights)
    synthetic, news = w[:, SYNTHETIC].sum(axis=1), w[:, NEWS]
    return (synthetic >= 0.3 - 1e-9) & (synthetic <= 0.4 + 1e-9) & (news >= 0.15 - 1e-9)


def test_groups_resolve_globs_to_disjoint_members(tmp_path):
    plan = load_plan(grouped_config(tmp_path))
    assert plan.domains.groups == (Group("synthetic", tuple(SYNTHETIC), 0.3, 0.4), Group("news", (NEWS,), 0.15, 1.0))
    without = load_plan(write_config(tmp_path / "plain"))
    assert without.domains.groups == ()
    assert load_plan(grouped_config(tmp_path), ["caps.groups.0.max=0.5"]).run_dir != plan.run_dir


def test_group_errors_are_located_before_any_proxy_runs(tmp_path):
    path = grouped_config(tmp_path, groups=[
        {"name": "synthetic", "sources": ["synth/*", "code/py"], "min": 0.6, "max": 0.4},
        {"name": "synthetic", "sources": ["code/*"], "max": 0.5}])
    text = errors_of(path)
    lines = path.read_text().splitlines()
    line = next(i for i, text_line in enumerate(lines, 1) if "synth/*" in text_line)
    assert f"{path}:{line}: caps.groups.0.sources.0: 'synth/*' matches no domain" in text
    assert "caps.groups.0: synthetic: min 0.6 is above max 0.4" in text
    assert "caps.groups.1.name: 'synthetic' names two groups" in text
    assert "caps.groups.1.sources: code/py is also in group 'synthetic': groups may not share a domain" in text
    assert "Input should be less than or equal to 1" in errors_of(grouped_config(
        tmp_path, groups=[{"name": "g", "sources": ["code/py"], "max": 1.5}]))


def test_group_bounds_out_of_reach_of_the_other_caps(tmp_path):
    # code/py may hold 0.2 at most (4 epochs of its 500k tokens at 10M target tokens)
    text = errors_of(grouped_config(tmp_path, groups=[{"name": "code", "sources": ["code/*"], "min": 0.33}]))
    assert "caps.groups.0.min: code: min 0.33 is above the 0.2 its domains (code/py) may hold" in text
    text = errors_of(grouped_config(tmp_path, groups=[{"name": "books", "sources": ["books/pg"], "max": 0.05}],
                                    pinned={"books/pg": 0.1}))
    assert "caps.groups.0.max: books: max 0.05 is below the 0.1 its domains (books/pg) need" in text
    text = errors_of(grouped_config(tmp_path, groups=[{"name": "a", "sources": ["web/*", "news/*"], "min": 0.7},
                                                      {"name": "b", "sources": ["books/*"], "min": 0.35}]))
    assert "caps.groups: the group minimums with min_weight and pinned weights need 1.05" in text
    text = errors_of(grouped_config(tmp_path, groups=[{"name": "a", "sources": ["web/*", "news/*"], "max": 0.3}]))
    assert "caps.groups: the group maximums with max_weight, max_epochs and pinned weights allow at most 0.9" in text


def test_sweep_draws_keep_group_bounds_with_a_sensible_spread(tmp_path):
    d = load_plan(grouped_config(tmp_path), ["caps.min_weight={web/wiki: 0.05}"]).domains
    assert not keeps_groups(d.prior)  # the prior is outside: draws centre on it moved onto the bounds
    for seed in range(2):
        draws = draw_mixtures(d, 150, [0.3, 1.0, 10.0], seed, decimals=3)
        assert keeps_groups(draws).all() and within_caps(draws, d.lower, d.upper, d.groups).all()
        assert (draws >= d.lower - 1e-12).all() and (draws <= d.upper + 1e-12).all()
        np.testing.assert_array_equal(np.rint(draws * 1000) / 1000, draws)
        np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-12)
        synthetic = draws[:, SYNTHETIC].sum(axis=1)
        assert synthetic.max() - synthetic.min() > 0.06  # spread over the band, not piled on one bound
        assert (synthetic > 0.301).mean() > 0.5


def test_group_centre_keeps_ratios_inside_groups():
    prior = np.array([0.6, 0.3, 0.06, 0.04])
    groups = (Group("s", (2, 3), 0.33, 0.67),)
    centre = group_centre(prior, groups)
    assert centre[2:].sum() == pytest.approx(0.33)
    assert centre[2] / centre[3] == pytest.approx(1.5) and centre[0] / centre[1] == pytest.approx(2.0)
    assert group_centre(prior, (Group("s", (2, 3), 0.05, 0.67),)) is prior


def exact_projection(v, lower, upper, groups):
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1}]
    for g in groups:
        m = list(g.members)
        cons += [{"type": "ineq", "fun": lambda w, m=m, a=g.lower: w[m].sum() - a},
                 {"type": "ineq", "fun": lambda w, m=m, b=g.upper: b - w[m].sum()}]
    return minimize(lambda w: ((w - v) ** 2).sum(), np.full(len(v), 1 / len(v)), method="SLSQP",
                    bounds=list(zip(lower, upper)), constraints=cons, options={"ftol": 1e-14}).x


def test_projection_and_rounding_keep_group_bounds():
    lower, upper = np.array([0.0, 0.05, 0.0, 0.0, 0.0]), np.array([0.7, 0.7, 0.3, 0.25, 0.6])
    groups = (Group("s", (2, 3), 0.3333, 0.4), Group("t", (0, 4), 0.2, 0.5))
    rng = np.random.default_rng(0)
    raw = np.vstack([rng.dirichlet(np.full(5, 0.5), 200), rng.normal(0.2, 0.4, (50, 5))])
    projected = project(raw, lower, upper, groups)
    assert within_caps(projected, lower, upper, groups).all()
    for v, p in zip(raw[:5], projected[:5]):  # the closest such mixture, not merely one inside
        np.testing.assert_allclose(p, exact_projection(v, lower, upper, groups), atol=1e-5)
    inside = projected[10]
    np.testing.assert_allclose(project(inside, lower, upper, groups), inside, atol=1e-9)
    for decimals in (2, 4):
        rounded = round_to_grid(projected, lower, upper, decimals, groups)
        assert within_caps(rounded, lower, upper, groups).all()
        sums = group_sums(rounded, groups)
        assert (sums[:, 0] >= 0.3333 - 1e-12).all() and (sums[:, 0] <= 0.4 + 1e-12).all()
        np.testing.assert_array_equal(np.rint(rounded * 10**decimals) / 10**decimals, rounded)
        np.testing.assert_allclose(rounded.sum(axis=1), 1.0, atol=1e-12)
        assert np.abs(rounded - projected).max() <= 2 * len(lower) / 10**decimals


def test_solve_and_search_keep_group_bounds(tmp_path):
    plan = load_plan(grouped_config(tmp_path))
    d = plan.domains
    predict = objective_of(TRUE_LAWS, MEAN_LOSS)
    free = solve(TRUE_LAWS, MEAN_LOSS, load_plan(write_config(tmp_path / "free")).domains, 0.0, [d.prior])
    assert not keeps_groups(free)  # so the bounds bind
    solved = solve(TRUE_LAWS, MEAN_LOSS, d, 0.0, [d.prior, np.full(4, 0.25)])
    assert keeps_groups(solved) and within_caps(solved, d.lower, d.upper)
    searched = search(predict, d, samples=20_000, top_k=20, concentrations=[1.0, 10.0], seed=0)
    assert keeps_groups(searched) and within_caps(searched, d.lower, d.upper)
    assert predict(solved)[0] <= predict(searched)[0] + 1e-9
    assert predict(searched)[0] < predict(solved)[0] + 0.01
    # the true optimum under the groups, on a grid of the three free directions
    step = 100
    a, b, c = (axis.ravel() for axis in np.mgrid[0:step + 1, 0:step + 1, 0:step + 1])
    points = np.column_stack([a, b, c, step - a - b - c])[a + b + c <= step] / step
    points = points[within_caps(points, d.lower, d.upper, d.groups)]
    assert predict(solved)[0] <= predict(points).min() + 1e-9
    for w, _ in baselines(d, 3.0).values():
        assert keeps_groups(w) and within_caps(w, d.lower, d.upper, d.groups)


@pytest.mark.parametrize("method", ["search", "solve"])
def test_proposed_mixture_keeps_group_bounds(tmp_path, method):
    overrides = [f"propose.method={method}", "propose.samples=20000"]
    path = grouped_config(tmp_path)
    run_dir = sweep(path, overrides, train_fn=fake_train)
    mixtures = np.loadtxt(run_dir / "mixtures.csv", delimiter=",", skiprows=1)[:, 1:]
    assert keeps_groups(mixtures).all()
    mixture = yaml.safe_load(propose(path, overrides).read_text())
    w = np.array([mixture["weights"][n] for n in DOMAINS])
    assert keeps_groups(w)
    plan = load_plan(path, overrides)
    assert within_caps(w, plan.domains.lower, plan.domains.upper, plan.domains.groups)
    np.testing.assert_array_equal(np.round(w, 4), w)


def test_a_prior_far_outside_a_group_does_not_starve_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr("mixing.sweep.MAX_DRAWS", 20_000)  # around the raw prior (0.2) almost no draw reaches 0.45
    groups = [{"name": "synthetic", "sources": ["books/pg", "code/py"], "min": 0.45, "max": 0.6}]
    d = load_plan(grouped_config(tmp_path, groups=groups)).domains
    draws = draw_mixtures(d, 40, [100.0], seed=0, decimals=4)
    synthetic = draws[:, SYNTHETIC].sum(axis=1)
    assert ((synthetic >= 0.45) & (synthetic <= 0.6)).all() and within_caps(draws, d.lower, d.upper, d.groups).all()


def test_rounding_without_the_groups_would_break_them():
    """Why round_to_grid takes the groups: rounding each domain alone can push a group past its bound."""
    lower, upper = np.zeros(5), np.ones(5)
    groups = (Group("s", (0, 1), 0.0, 0.2999),)
    w = np.array([0.14995, 0.14995, 0.233334, 0.233333, 0.233433])  # group at its bound, remainders .5 + .5
    assert within_caps(w, lower, upper, groups)
    assert group_sums(round_to_grid(w, lower, upper, 4), groups)[0, 0] == pytest.approx(0.3)  # broken
    rounded = round_to_grid(w, lower, upper, 4, groups)
    assert within_caps(rounded, lower, upper, groups) and rounded.sum() == pytest.approx(1.0)
