"""Validate a proposal: train held-out mixtures at the sweep's budget (random ones never swept, the
proposed one, and the natural, uniform and temperature baselines) and set what the law predicted
beside what each reached. Runs live in the run folder's validate/ and resume like the sweep's.
"""

from __future__ import annotations

import json

import numpy as np

from yamlconfig import ConfigError

from .config import MixPlan, Proxy
from .files import Swarm, write_json
from .laws import scores
from .propose import baselines, fit_laws, objective_of
from .proxies import TrainFn, metric_columns, proxy_jobs, run_jobs
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
    runs = held_out_mixtures(plan, swarm, proposal)
    done = run_jobs(proxy_jobs(plan, plan.run_dir / "validate", runs, proxy), train_fn, cfg.sweep.parallel)

    predict = objective_of(fit_laws(plan, swarm), plan.objective)
    rows = []
    for label, weights in runs.items():
        metrics = {k: v[0] for k, v in metric_columns(d.names, [done[label]]).items()}
        rows.append({"run": label, "weights": d.as_dict(weights),
                     "predicted": float(predict(weights)[0]),
                     "actual": float(sum(c * metrics[m] for m, c in plan.objective.items())),
                     "loss": {n: metrics[f"loss/{n}"] for n in d.names},
                     "flops": done[label]["flops"]})
    actual = {r["run"]: r["actual"] for r in rows}
    report = {"proxy": proxy, "runs": rows,
              "scores": scores(np.array([r["predicted"] for r in rows]), np.array([r["actual"] for r in rows])),
              "proposed_minus_baseline": {b: actual["proposed"] - actual[b]
                                          for b in ("natural", "uniform", "temperature")},
              "flops": sum(r["flops"] for r in rows)}
    write_json(plan.run_dir / "validation.json", report)
    return report
