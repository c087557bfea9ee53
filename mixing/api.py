"""One function per `gristmill mix` verb; the CLI calls these and nothing else in `mixing`.

    sweep(config)     draw mixtures, train the proxies (resuming), write mixtures.csv and metrics.csv
    fit(config)       k-fold scores of both laws on the swarm -> fit.json
    fit_csv(...)      the same for CSVs made elsewhere (RegMix's layout), without a YAML
    predict_csv(...)  fit on such CSVs, predict the objective of other mixtures (a CSV) -> predictions.csv
    propose(config)   the best mixture under the caps -> mixture.yaml + proposal.json (refused where
                      the law ranks held-out proxies worse than propose.min_spearman, unless forced)
    validate(config)  train held-out mixtures and the baselines -> validation.json

Each takes the mix YAML's path and `--set` overrides, works in the config's run folder
(OUT/NAME-HASH) and rewrites report.md there at its end.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from provenance.yamlfile import ConfigError

from .config import Fit, MixConfig, MixPlan, SwarmFiles, load_plan, resolve
from .files import Swarm, read_mixtures, read_swarm, write_csv, write_json
from .laws import evaluate, fit_law
from .propose import propose as propose_mixture
from .propose import write_proposal
from .proxies import TrainFn, default_train_fn
from .report import write_report
from .sweep import run_sweep
from .validate import run_validation

log = logging.getLogger("gristmill")


def load_swarm(plan: MixPlan) -> Swarm:
    """The runs to fit, their weight columns in the plan's domain order: the CSVs `swarm` names,
    else the ones this config's sweep wrote."""
    if plan.config.swarm is not None:
        swarm = read_swarm(plan.config.swarm.mixtures, plan.config.swarm.metrics)
    elif (plan.run_dir / "metrics.csv").is_file():
        swarm = read_swarm(plan.run_dir / "mixtures.csv", plan.run_dir / "metrics.csv")
    else:
        raise ConfigError([f"{plan.run_dir}: no finished proxies yet; run `gristmill mix sweep` first"])
    order = [swarm.domains.index(n) for n in plan.domains.names]
    return replace(swarm, domains=plan.domains.names, weights=swarm.weights[:, order])


def sweep(config: str | Path, overrides: list[str] = (), train_fn: TrainFn = default_train_fn) -> Path:
    """Returns the run folder."""
    plan = load_plan(config, overrides)
    run_sweep(plan, train_fn)
    write_report(plan.run_dir, plan.config.name)
    return plan.run_dir


def _fit(plan: MixPlan) -> dict:
    swarm = load_swarm(plan)
    cfg = plan.config
    result = {"objective": plan.objective, "law": cfg.fit.law, "folds": cfg.fit.folds, "runs": len(swarm.index),
              "laws": evaluate(swarm.weights, swarm.metrics, plan.objective, cfg.fit.folds, cfg.seed)}
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(plan.run_dir / "fit.json", result)
    write_report(plan.run_dir, cfg.name)
    for law, scores in result["laws"].items():
        s = scores["objective"]
        log.info("%s law, %d-fold over %d runs: Spearman %.3f, Pearson %.3f, MAE %.4g", law, cfg.fit.folds,
                 s["n"], s["spearman"], s["pearson"], s["mae"])
    return result


def fit(config: str | Path, overrides: list[str] = ()) -> dict:
    """The contents of fit.json: per law, k-fold Spearman/Pearson/MAE for the objective and each of its metrics."""
    return _fit(load_plan(config, overrides))


def fit_csv(mixtures: str | Path, metrics: str | Path, objective: list[str] | dict[str, float],
            out: str = "out/mix", law: str = "loglinear", folds: int = 5, name: str = "refit") -> dict:
    """`fit` for a swarm made elsewhere: `objective` is the metric column(s) to predict (equal weights for a list)."""
    if isinstance(objective, list):
        objective = {m: 1 / len(objective) for m in objective}
    cfg = MixConfig(name=name, out=out, swarm=SwarmFiles(mixtures=str(mixtures), metrics=str(metrics)),
                    objective=objective, fit=Fit(law=law, folds=folds))
    return _fit(resolve(cfg))


def predict_csv(mixtures: str | Path, metrics: str | Path, objective: list[str], candidates: str | Path,
                out: str = "out/mix", law: str = "loglinear", folds: int = 5) -> tuple[Path, dict]:
    """Fit `law` on a swarm's CSVs and predict the objective (the mean of the `objective` metric columns)
    of each mixture in `candidates` (a CSV with the same domain columns, and an `index` where it has
    one). Returns the predictions CSV and the law's k-fold scores on the swarm."""
    swarm = read_swarm(mixtures, metrics)
    missing = [m for m in objective if m not in swarm.metrics]
    if missing:
        raise ConfigError([f"--target: {metrics} has no column {', '.join(missing)}"])
    table = read_mixtures(candidates)
    unknown = sorted(set(table.domains) ^ set(swarm.domains))
    if unknown:
        raise ConfigError([f"{candidates}: its domain columns differ from {mixtures}'s: {', '.join(unknown)}"])
    weights = table.weights[:, [table.domains.index(d) for d in swarm.domains]]
    predicted = sum(fit_law(law, swarm.weights, swarm.metrics[m]).predict(weights) for m in objective) / len(objective)
    held_out = evaluate(swarm.weights, swarm.metrics, {m: 1 / len(objective) for m in objective}, folds, 0,
                        kinds=(law,))[law]["objective"]
    path = Path(out) / "predictions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, table.index.tolist(), {"predicted_objective": predicted.tolist()})
    log.info("%s law fit on %d runs (%d-fold Spearman %.3f, MAE %.4g); %d mixtures predicted -> %s", law,
             len(swarm.index), folds, held_out["spearman"], held_out["mae"], len(table.index), path)
    return path, held_out


def propose(config: str | Path, overrides: list[str] = (), force: bool = False) -> Path:
    """Returns the path of the proposed mixture YAML; `force`: even from a law that ranks poorly."""
    plan = load_plan(config, overrides)
    proposal = propose_mixture(plan, load_swarm(plan), force)
    path = write_proposal(plan, proposal)
    write_report(plan.run_dir, plan.config.name)
    log.info("proposed %s: predicted objective %.4f (the law's k-fold Spearman %.3f)", path,
             proposal["predicted_objective"], proposal["held_out_spearman"])
    return path


def validate(config: str | Path, overrides: list[str] = (), train_fn: TrainFn = default_train_fn) -> Path:
    """Returns the path of report.md."""
    plan = load_plan(config, overrides)
    result = run_validation(plan, load_swarm(plan), train_fn)
    gaps = ", ".join(f"{b} {g['difference']:+.4f} ± {g['se']:.4f}" for b, g in result["proposed_minus_baseline"].items())
    log.info("validation over %d seeds: predicted vs actual Spearman %.3f; proposed minus baselines: %s",
             result["seeds"], result["scores"]["spearman"], gaps)
    return write_report(plan.run_dir, plan.config.name)
