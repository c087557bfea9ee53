"""Mixing figure on our own sweep: run `gristmill mix sweep/fit/propose/validate` on a mix YAML with
the real trainer, then print, for both laws side by side (log-linear, gradient-boosted trees), the
k-fold Spearman over the sweep and the Spearman on the held-out validation runs, the proposal's
actual objective against the natural, uniform and temperature baselines (mean ± standard error over
validate.seeds trainings of each mixture; whether each margin exceeds its combined standard error),
and the FLOPs spent as a share of the target run's. Everything resumes: a second run of the same command trains nothing.

Run: .venv/bin/python benchmarks/mixing_sweep.py pipelines/mix.yaml [--set sweep.proxies=64 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mixing import api  # noqa: E402
from mixing.config import load_plan  # noqa: E402
from mixing.laws import LAWS, fit_law, scores  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--curve", type=int, nargs="+", default=[16, 32, 64],
                        help="also score the laws fitted on only the first n proxies (a sweep grows in its folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    api.sweep(args.config, args.overrides)
    fit = api.fit(args.config, args.overrides)
    api.propose(args.config, args.overrides)
    api.validate(args.config, args.overrides)

    plan = load_plan(args.config, args.overrides)
    swarm = api.load_swarm(plan)
    validation = json.loads((plan.run_dir / "validation.json").read_text())
    runs = validation["runs"]
    held_out = np.array([[r["weights"][n] for n in plan.domains.names] for r in runs])
    actual = np.array([r["actual"] for r in runs])
    print(f"\n{plan.config.name}: {len(swarm.index)} proxies, objective {plan.objective}")
    print(f"| law | k-fold Spearman ({len(swarm.index)} runs) | held-out Spearman ({len(runs)} runs) |")
    print("|---|---|---|")
    for kind in LAWS:
        predicted = sum(c * fit_law(kind, swarm.weights, swarm.metrics[m], plan.config.seed).predict(held_out)
                        for m, c in plan.objective.items())
        print(f"| {kind} | {fit['laws'][kind]['objective']['spearman']:.3f} | "
              f"{scores(predicted, actual)['spearman']:.3f} |")
    counts = [n for n in args.curve if n <= len(swarm.index)]
    print(f"\nheld-out Spearman ({len(runs)} runs) when fitting on the first n proxies\n"
          "| law | " + " | ".join(f"n = {n}" for n in counts) + " |\n|---|" + "---|" * len(counts))
    for kind in LAWS:
        cells = []
        for n in counts:
            predicted = sum(c * fit_law(kind, swarm.weights[:n], swarm.metrics[m][:n], plan.config.seed)
                            .predict(held_out) for m, c in plan.objective.items())
            cells.append(f"{scores(predicted, actual)['spearman']:.3f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    by_run = {r["run"]: r for r in runs}
    print(f"\nactual objective, mean ± standard error over {validation['seeds']} seeds (data order and init)\n"
          "| mixture | actual | proposed minus it | beyond the combined s.e. | paired s.e. |\n|---|---|---|---|---|")
    print(f"| proposed | {by_run['proposed']['actual']:.4f} ± {by_run['proposed']['se']:.4f} | | | |")
    for name, gap in validation["proposed_minus_baseline"].items():
        beyond = "yes" if gap["difference"] < 0 and gap["se"] < -gap["difference"] else "no"
        print(f"| {name} | {by_run[name]['actual']:.4f} ± {by_run[name]['se']:.4f} | "
              f"{gap['difference']:+.4f} ± {gap['se']:.4f} | {beyond} | {gap['paired_se']:.4f} |")
    sweep = json.loads((plan.run_dir / "sweep.json").read_text())
    print(f"\nsweep cost: {sweep['cost']['spent_percent_of_target']:.2f}% of the target run's FLOPs; "
          f"report: {plan.run_dir / 'report.md'}")


if __name__ == "__main__":
    main()
