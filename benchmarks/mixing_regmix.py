"""Mixing figure on published data: refit RegMix's swarm (Liu et al., 2024; github.com/sail-sg/regmix,
MIT licence) from 64 of its 1M-parameter proxies and rank its 64 larger runs (1B parameters, 25B
tokens) by Pile-CC validation loss; also its 256 held-out 1M runs. Several random draws of 64
proxies; medians. Beside gristmill's two laws, in the same run: LightGBM as RegMix's notebook sets
it up (1000 rounds, learning rate 0.01, LightGBM's default leaves; its early stopping on the test
set is left out) and plain linear regression, RegMix's other baseline.

Needs RegMix's `data/` CSVs (train_mixture_1m, train_pile_loss_1m, test_mixture_1m,
test_pile_loss_1m, test_mixture_1B, test_pile_loss_1B) in --data.

Run: .venv/bin/python benchmarks/mixing_regmix.py [--data data/regmix] [--proxies 64] [--draws 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mixing.files import read_swarm  # noqa: E402
from mixing.laws import fit_law, scores  # noqa: E402

TARGET = "metric/the_pile_pile_cc_val_loss"


def regmix_lightgbm(weights, values):
    import lightgbm

    params = {"objective": "regression", "learning_rate": 1e-2, "seed": 42, "verbosity": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(weights, values), num_boost_round=1000)
    return booster.predict


def linear(weights, values):
    design = np.column_stack([weights, np.ones(len(weights))])
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    return lambda w: np.column_stack([w, np.ones(len(w))]) @ coef


MODELS = {
    "gristmill log-linear law (default)": lambda w, y: fit_law("loglinear", w, y).predict,
    "gristmill LightGBM (small trees)": lambda w, y: fit_law("lightgbm", w, y).predict,
    "RegMix LightGBM settings": regmix_lightgbm,
    "linear regression": linear,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "regmix"))
    parser.add_argument("--proxies", type=int, default=64)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "train_mixture_1m.csv").is_file():
        sys.exit(f"{data}: RegMix's data/*.csv are not here; copy them from github.com/sail-sg/regmix (data/)")
    train = read_swarm(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv")
    tests = {"1B runs": read_swarm(data / "test_mixture_1B.csv", data / "test_pile_loss_1B.csv"),
             "1M held out": read_swarm(data / "test_mixture_1m.csv", data / "test_pile_loss_1m.csv")}
    for test in tests.values():
        assert test.domains == train.domains

    results = {name: {t: [] for t in tests} for name in MODELS}
    seconds = dict.fromkeys(MODELS, 0.0)
    rng = np.random.default_rng(0)
    subsets = [rng.choice(len(train.index), args.proxies, replace=False) for _ in range(args.draws)]
    for subset in subsets:
        weights, values = train.weights[subset], train.metrics[TARGET][subset]
        for name, fit in MODELS.items():
            started = time.perf_counter()
            predict = fit(weights, values)
            seconds[name] += time.perf_counter() - started
            for t, test in tests.items():
                results[name][t].append(scores(predict(test.weights), test.metrics[TARGET])["spearman"])

    print(f"RegMix swarm, target {TARGET}: fit on {args.proxies} of {len(train.index)} 1M proxies, "
          f"{args.draws} random draws; Spearman with the actual loss (median [min, max])")
    print(f"| model | {' | '.join(f'{t} ({len(tests[t].index)})' for t in tests)} | fit seconds |")
    print("|---|" + "---|" * (len(tests) + 1))
    for name in MODELS:
        cells = [f"{np.median(v):.3f} [{min(v):.3f}, {max(v):.3f}]" for v in results[name].values()]
        print(f"| {name} | {' | '.join(cells)} | {seconds[name] / args.draws:.3f} |")
    median = np.median(results["gristmill log-linear law (default)"]["1B runs"])
    print(f"target (TARGETS.md): Spearman >= 0.95 on the larger runs from 64 proxies: "
          f"{'met' if median >= 0.95 else 'NOT met'} ({median:.3f})")


if __name__ == "__main__":
    main()
