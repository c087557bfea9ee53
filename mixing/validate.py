"""Validate a proposal: train held-out mixtures at the sweep's budget (random ones never swept, the
proposed one, and the natural, uniform and temperature baselines) and set what the law predicted
beside what each reached. Each mixture is trained `validate.seeds` times (data order and model
initialisation both change with the seed), so every actual figure is a mean with its standard
error, and the proposal's margin over a baseline can be set against their combined standard error.
Runs live in the run folder's validate/LABEL/seed-S and resume like the sweep's.
"""

from __future__ import annotations

import json

import numpy as np

from provenance.yamlfile import ConfigError

from .config import MixPlan, Proxy
from .files import Swarm, write_json
from .laws import scores
from .propose import baselines, fit_laws, objective_of
from .proxies import ProxyJob, TrainFn, metric_columns, proxy_jobs, run_jobs
from .report import BASELINES
from .sweep import draw_mixtures


def held_out_mixtures(plan: MixPlan, swarm: Swarm, proposal: dict) -> dict[str, np.ndarray]:
    cfg, d = plan.config, plan.domains
    runs = {"proposed": np.array([proposal["weights"][n] for n in d.names])}
    runs.update({name: w for name, (w, _) in baselines(d, cfg.validation.temperature).items()})
    if cfg.validation.random:
        random = draw_mixtures(d, cfg.validation.random, cfg.sweep.concentrations, cfg.seed, cfg.decimals,
                               avoid=swarm.weights, stream=1)
        runs.update({f"random-{i:02d}": w for i, w in enumerate(random)})
    return runs


def seeded_jobs(plan: MixPlan, runs: dict[str, np.ndarray], proxy: dict, seeds: int) -> list[ProxyJob]:
    """One job per mixture and seed: LABEL/seed-S trains with data-order and init seed `seed + S`."""
    seeded = {f"{label}/seed-{s}": (w, plan.config.seed + s) for label, w in runs.items() for s in range(seeds)}
    return proxy_jobs(plan, plan.run_dir / "validate", seeded, proxy)


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN from a single value)."""
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(np.mean(values)), se


def _gap(proposed: dict, baseline: dict) -> dict:
    """Proposed minus baseline: the difference of the means with their combined standard error, and
    the standard error of the per-seed differences (the same seeds train both, so noise a seed brings
    to every mixture cancels there)."""
    paired = np.array(proposed["per_seed"]) - np.array(baseline["per_seed"])
    return {"difference": proposed["actual"] - baseline["actual"],
            "se": float(np.hypot(proposed["se"], baseline["se"])), "paired_se": mean_and_se(paired)[1]}


def run_validation(plan: MixPlan, swarm: Swarm, train_fn: TrainFn) -> dict:
    cfg, d = plan.config, plan.domains
    if cfg.sweep is None:
        raise ConfigError(["sweep: validation trains proxies like the sweep's; this config has no `sweep`"])
    proposal_path = plan.run_dir / "proposal.json"
    if not proposal_path.is_file():
        raise ConfigError([f"{proposal_path}: no proposal yet; run `gristmill mix propose` first"])
    proposal = json.loads(proposal_path.read_text())
    if sorted(proposal["weights"]) != sorted(d.names):
        raise ConfigError([f"{proposal_path}: proposed for other domains; run `gristmill mix propose` again"])
    proxy = Proxy.model_validate({**cfg.sweep.proxy.model_dump(), **cfg.validation.proxy}).model_dump()
    seeds = cfg.validation.seeds
    runs = held_out_mixtures(plan, swarm, proposal)
    done = run_jobs(seeded_jobs(plan, runs, proxy, seeds), train_fn, cfg.sweep.parallel)

    predict = objective_of(fit_laws(plan, swarm), plan.objective)
    rows = []
    for label, weights in runs.items():
        records = [done[f"{label}/seed-{s}"] for s in range(seeds)]
        metrics = {k: np.array(v) for k, v in metric_columns(d.names, records).items()}
        per_seed = sum(c * metrics[m] for m, c in plan.objective.items())
        actual, se = mean_and_se(per_seed)
        rows.append({"run": label, "weights": d.as_dict(weights), "predicted": float(predict(weights)[0]),
                     "actual": actual, "se": se, "per_seed": per_seed.tolist(),
                     "loss": {n: float(metrics[f"loss/{n}"].mean()) for n in d.names},
                     "flops": sum(r["flops"] for r in records)})
    by_run = {r["run"]: r for r in rows}
    proposed = by_run["proposed"]
    report = {"proxy": proxy, "seeds": seeds, "runs": rows,
              "scores": scores(np.array([r["predicted"] for r in rows]), np.array([r["actual"] for r in rows])),
              "proposed_minus_baseline": {b: _gap(proposed, by_run[b]) for b in BASELINES},
              "flops": sum(r["flops"] for r in rows)}
    write_json(plan.run_dir / "validation.json", report)
    return report
