"""The sweep: draw mixtures around the prior under the caps, train one proxy per mixture
(mixing/proxies.py), and record what each reached in mixtures.csv and metrics.csv (RegMix's
layout) in the run folder, with sweep.json: the resolved domains and the FLOPs spent.

Proxy i trains with seed `seed + i` (data order and initialisation), so that the proxies' training
noise is independent from run to run and the law's fit averages it out; with one shared seed every
proxy starts from the same weights, and their common error is smooth in the mixture, which a law
fits as if it were signal.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from provenance.yamlfile import ConfigError

from .config import Domains, MixPlan
from .cost import sweep_cost
from .files import write_csv, write_json
from .proxies import TrainFn, default_train_fn, metric_columns, proxy_jobs, run_jobs
from .simplex import dirichlet, round_to_grid, within_caps

BATCH = 1024  # Dirichlet draws per try
MAX_DRAWS = 1_000_000  # draws without a new mixture before the caps are judged too tight

log = logging.getLogger("gristmill")


def _candidates(domains: Domains, concentration: float, rng: np.random.Generator, decimals: int):
    """Endless grid-rounded draws at one concentration that keep the caps, each with the number of
    draws made so far (None in place of a mixture after a batch with none, so the caller can give up)."""
    drawn = 0
    while True:
        draws = dirichlet(rng, domains.prior, domains.lower, domains.upper, concentration, BATCH, domains.groups)
        drawn += BATCH
        draws = draws[within_caps(draws, domains.lower, domains.upper, domains.groups)]
        if not len(draws):
            yield None, drawn
            continue
        for w in round_to_grid(draws, domains.lower, domains.upper, decimals, domains.groups):
            yield w, drawn


def draw_mixtures(domains: Domains, n: int, concentrations: list[float], seed: int, decimals: int,
                  avoid: np.ndarray | None = None, stream: int = 0) -> np.ndarray:
    """`n` distinct mixtures on the 10**-decimals grid that keep the caps, taken in turn from Dirichlet
    draws around the prior at each concentration. Lower caps hold by construction
    (simplex.dirichlet); draws above an upper cap, or with a group's total outside its bounds, are
    rejected (the draws centre on the prior moved onto the group bounds, simplex.group_centre, so
    that a prior far outside a group's bounds does not starve the sweep). The first n of a longer sweep are
    this sweep, so a sweep can grow. `avoid` holds mixtures already taken; `stream` separates
    independent uses of one seed."""
    scale = 10**decimals
    seen = {np.rint(w * scale).astype(np.int64).tobytes() for w in (avoid if avoid is not None else [])}
    sources = [_candidates(domains, c, np.random.default_rng([seed, stream, k]), decimals)
               for k, c in enumerate(concentrations)]
    kept: list[np.ndarray] = []
    for i in range(n):
        concentration, start = concentrations[i % len(sources)], None
        for w, drawn in sources[i % len(sources)]:
            start = drawn if start is None else start
            if drawn - start > MAX_DRAWS:
                raise ConfigError([f"caps: no new distinct mixture at concentration {concentration:g} kept the "
                                   f"caps in {MAX_DRAWS:,} draws (after {len(kept)} found); loosen caps (min_weight, "
                                   "max_weight, max_epochs, groups), change sweep.concentrations or raise `decimals`"])
            if w is not None and (key := np.rint(w * scale).astype(np.int64).tobytes()) not in seen:
                seen.add(key)
                kept.append(w)
                break
    return np.array(kept)


def run_sweep(plan: MixPlan, train_fn: TrainFn = default_train_fn) -> Path:
    """Draw the sweep's mixtures, train the proxies not yet finished, write the CSVs; returns the run folder."""
    cfg, d, run_dir = plan.config, plan.domains, plan.run_dir
    sweep = cfg.sweep
    run_dir.mkdir(parents=True, exist_ok=True)
    mixtures = draw_mixtures(d, sweep.proxies, sweep.concentrations, cfg.seed, cfg.decimals)
    labels = [f"{i:05d}" for i in range(len(mixtures))]
    write_csv(run_dir / "mixtures.csv", list(range(len(mixtures))),
              {n: mixtures[:, k].tolist() for k, n in enumerate(d.names)})
    cost = sweep_cost(sweep.proxy.model, sweep.proxy.seq_len, sweep.proxy.tokens, len(mixtures),
                      cfg.target.model, cfg.target.seq_len, cfg.target.tokens, plan.vocab_size)
    log.info("sweep %s: %d proxies of %s tokens, %.3g FLOPs = %.2f%% of the target run's; in %s", cfg.name,
             len(mixtures), f"{sweep.proxy.tokens:,}", cost["proxy_flops"], cost["percent_of_target"], run_dir)

    def record_progress(done: dict[str, dict]) -> None:
        finished_labels = sorted(done)
        records = [done[label] for label in finished_labels]
        write_csv(run_dir / "metrics.csv", [int(label) for label in finished_labels], metric_columns(d.names, records))
        spent = sum(r["flops"] for r in records)
        write_json(run_dir / "sweep.json", {
            "name": cfg.name, "hash": plan.sweep_hash, "domains": d.names, "tokens": d.tokens.tolist(),
            "prior": d.prior.tolist(), "lower": d.lower.tolist(), "upper": d.upper.tolist(),
            "max_epochs": d.max_epochs.tolist(),
            "groups": [{"name": g.name, "domains": [d.names[i] for i in g.members], "min": g.lower, "max": g.upper}
                       for g in d.groups], "proxies": len(mixtures), "finished": len(records),
            "proxy": sweep.proxy.model_dump(), "target": cfg.target.model_dump(), "cost": {
                **cost, "spent_flops": spent, "spent_percent_of_target": 100 * spent / cost["target_flops"]}})

    runs = {label: (w, cfg.seed + i) for i, (label, w) in enumerate(zip(labels, mixtures))}
    jobs = proxy_jobs(plan, run_dir / "proxies", runs, sweep.proxy.model_dump())
    record_progress(run_jobs(jobs, train_fn, sweep.parallel, record_progress))
    return run_dir
