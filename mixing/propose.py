"""Propose a mixture: minimise the fitted objective over the simplex under the caps (group bounds
included: projection keeps them in search, SLSQP inequalities in solve), and write it.

- Search (the default, for either law): RegMix's top-k average. Score many Dirichlet draws around the
  prior at the given concentrations (the sweep's, so the draws cover the region the proxies sampled),
  each moved onto the caps by projection, and average the best `top_k` (an average of mixtures inside
  the caps stays inside them). The average stays where the law was fitted, which makes it robust to
  the law's error outside that region: on the demo sweep (BENCHMARKS.md) it did at least as well as
  the exact solve, with or without a KL pull, and as bagged solves.
- Solve (log-linear law only): the objective, sum_m a_m (c_m + exp(t_m . w)), is convex in w for
  a_m >= 0, so SLSQP from a few feasible starts finds its minimum; `kl_to_prior` adds
  lambda * KL(w || prior), convex too, to pull the answer toward the prior. The exact minimum often
  sits in a corner of the simplex where the law extrapolates.
The weights are then rounded to the grid keeping every cap, and written as the mixture YAML that
`gristmill train` reads, beside proposal.json: predicted metrics, the baselines' predictions and
the epochs each domain gets at the target scale.

First the law must rank mixtures it was not fit on: its k-fold Spearman on the objective (the figure
`mix fit` reports) below `propose.min_spearman` is an error, since its proposal cannot be trusted;
`force` proposes anyway, with a warning that gives the figure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from provenance.yamlfile import ConfigError

from .config import Domains, MixPlan
from .files import Swarm, write_json, write_mixture
from .laws import LogLinearLaw, evaluate, fit_law
from .simplex import dirichlet, project, round_to_grid

log = logging.getLogger("gristmill")


def baselines(domains: Domains, temperature: float) -> dict[str, tuple[np.ndarray, float]]:
    """Natural (token shares; the prior where token counts are unknown), uniform, and temperature
    sampling (weights proportional to share ** (1 / temperature)), each moved onto the caps where it
    breaks one, so that every mixture compared is one the target run may train on. Returns each
    mixture with how far the caps moved it (L1 distance)."""
    shares = domains.tokens / domains.tokens.sum() if domains.tokens is not None else domains.prior
    tempered = shares ** (1 / temperature)
    raw = {"natural": shares, "uniform": np.full(len(shares), 1 / len(shares)), "temperature": tempered / tempered.sum()}
    out = {}
    for name, w in raw.items():
        kept = project(w, domains.lower, domains.upper, domains.groups)
        out[name] = (kept, float(np.abs(kept - w).sum()))
    return out


def fit_laws(plan: MixPlan, swarm: Swarm) -> dict:
    """The chosen law fit on every run of the swarm, one per metric of the objective."""
    return {m: fit_law(plan.config.fit.law, swarm.weights, swarm.metrics[m], plan.config.seed) for m in plan.objective}


def objective_of(laws: dict, objective: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    """The predicted objective for a batch of mixtures (rows)."""
    return lambda weights: sum(c * laws[m].predict(np.atleast_2d(weights)) for m, c in objective.items())


def solve(laws: dict[str, LogLinearLaw], objective: dict[str, float], domains: Domains, kl_to_prior: float,
          starts: list[np.ndarray]) -> np.ndarray:
    """The minimum of the log-linear objective (+ KL to the prior) under the caps, best of several starts."""
    prior = domains.prior

    def value(w):
        total = sum(c * laws[m].predict(w[None])[0] for m, c in objective.items())
        if kl_to_prior:
            safe = np.maximum(w, 1e-12)
            total += kl_to_prior * float(np.sum(safe * np.log(safe / prior)))
        return total

    def gradient(w):
        grad = sum(c * laws[m].gradient(w) for m, c in objective.items())
        if kl_to_prior:
            grad = grad + kl_to_prior * (np.log(np.maximum(w, 1e-12) / prior) + 1)
        return grad

    bounds = list(zip(domains.lower, domains.upper))
    constraints = [{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones_like(w)}]
    for g in domains.groups:  # lower <= sum of the group's weights <= upper, as two inequalities
        member = np.isin(np.arange(len(prior)), g.members).astype(np.float64)
        constraints += [{"type": "ineq", "fun": lambda w, m=member, a=g.lower: m @ w - a, "jac": lambda w, m=member: m},
                        {"type": "ineq", "fun": lambda w, m=member, b=g.upper: b - m @ w, "jac": lambda w, m=member: -m}]
    lower, upper, groups = domains.lower, domains.upper, domains.groups
    best, best_value = None, np.inf
    for start in starts:
        result = minimize(value, project(start, lower, upper, groups), jac=gradient, method="SLSQP",
                          bounds=bounds, constraints=constraints, options={"ftol": 1e-12, "maxiter": 1000})
        w = project(result.x, lower, upper, groups)
        if value(w) < best_value:
            best, best_value = w, value(w)
    return best


def search(predict: Callable[[np.ndarray], np.ndarray], domains: Domains, samples: int, top_k: int,
           concentrations: list[float], seed: int) -> np.ndarray:
    """RegMix's search: score `samples` Dirichlet draws around the prior (split over the
    concentrations), each moved onto the caps by projection, and return the average of the best
    `top_k`. Projecting rather than rejecting lets the search reach optima on a cap, where they often are."""
    rng = np.random.default_rng([seed, 2])
    parts = np.array_split(np.arange(samples), len(concentrations))
    lower, upper, groups = domains.lower, domains.upper, domains.groups
    draws = np.concatenate([dirichlet(rng, domains.prior, lower, upper, c, len(part), groups)
                            for c, part in zip(concentrations, parts)])
    draws = project(draws, lower, upper, groups)
    best = np.argsort(predict(draws), kind="stable")[:top_k]
    return project(draws[best].mean(axis=0), lower, upper, groups)


def epochs_table(domains: Domains, weights: np.ndarray, target_tokens: int) -> list[dict]:
    """Per domain at the target scale: tokens taken, tokens there, epochs that makes, and the cap."""
    return [{"domain": n, "weight": float(w), "tokens": float(w * target_tokens), "available": float(t),
             "epochs": float(w * target_tokens / t), "max_epochs": float(e)}
            for n, w, t, e in zip(domains.names, weights, domains.tokens, domains.max_epochs)]


def held_out_spearman(plan: MixPlan, swarm: Swarm, force: bool) -> float:
    """The chosen law's k-fold Spearman on the objective; below `propose.min_spearman` (or undefined)
    an error, or with `force` a warning."""
    cfg = plan.config
    scores = evaluate(swarm.weights, swarm.metrics, plan.objective, cfg.fit.folds, cfg.seed, (cfg.fit.law,))
    rho = scores[cfg.fit.law]["objective"]["spearman"]
    if not rho >= cfg.propose.min_spearman:  # NaN too: the law cannot order the held-out runs at all
        problem = (f"the {cfg.fit.law} law ranks held-out proxies with a {cfg.fit.folds}-fold Spearman of {rho:.2f} "
                   f"over {len(swarm.index)} runs, below propose.min_spearman {cfg.propose.min_spearman:g}: its "
                   "proposal cannot be trusted")
        if not force:
            raise ConfigError([f"{problem}; train more proxies (sweep.proxies) or pass --force to propose anyway"])
        log.warning("%s; proposing anyway (--force)", problem)
    return rho


def propose(plan: MixPlan, swarm: Swarm, force: bool = False) -> dict:
    """The proposed mixture with its predictions, beside the baselines' and the sweep's best run;
    refused where the law ranks held-out runs too poorly, unless forced."""
    cfg, d = plan.config, plan.domains
    spearman = held_out_spearman(plan, swarm, force)
    laws = fit_laws(plan, swarm)
    predict = objective_of(laws, plan.objective)
    observed = swarm.objective(plan.objective)
    best_run = int(np.nanargmin(observed))
    method = cfg.propose.method
    if method == "solve":
        starts = [d.prior, np.full(len(d.names), 1 / len(d.names)), swarm.weights[best_run]]
        weights = solve(laws, plan.objective, d, cfg.propose.kl_to_prior, starts)
    else:
        weights = search(predict, d, cfg.propose.samples, cfg.propose.top_k, cfg.propose.concentrations, cfg.seed)
    weights = round_to_grid(weights, d.lower, d.upper, cfg.decimals, d.groups)
    return {
        "law": cfg.fit.law, "method": method, "objective": plan.objective, "held_out_spearman": spearman,
        "weights": d.as_dict(weights),
        "predicted": {m: float(laws[m].predict(weights[None])[0]) for m in plan.objective},
        "predicted_objective": float(predict(weights)[0]),
        "baselines": {name: {"weights": d.as_dict(w), "predicted_objective": float(predict(w)[0]),
                             "moved_by_caps": moved}
                      for name, (w, moved) in baselines(d, cfg.validation.temperature).items()},
        "best_run": {"index": int(swarm.index[best_run]), "weights": d.as_dict(swarm.weights[best_run]),
                     "objective": float(observed[best_run]), "predicted_objective": float(predict(swarm.weights[best_run])[0])},
        "epochs": epochs_table(d, weights, cfg.target.tokens) if d.tokens is not None else None,
        "laws": {m: law.to_dict() for m, law in laws.items()},
    }


def write_proposal(plan: MixPlan, proposal: dict) -> Path:
    """mixture.yaml (for `gristmill train`) and proposal.json in the run folder; returns the YAML's path."""
    cfg = plan.config
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    path = plan.run_dir / "mixture.yaml"
    others = ", ".join(f"{k} {v['predicted_objective']:.4f}" for k, v in proposal["baselines"].items())
    write_mixture(path, proposal["weights"], cfg.tokens, cfg.seed, cfg.caps.max_epochs, comments=[
        f"proposed by `gristmill mix propose` for {cfg.name} ({proposal['law']} law, k-fold Spearman "
        f"{proposal['held_out_spearman']:.3f}, {proposal['method']})",
        f"predicted objective {proposal['predicted_objective']:.4f}; baselines: {others}",
        f"details: {plan.run_dir / 'proposal.json'}"])
    write_json(plan.run_dir / "proposal.json", proposal)
    return path
