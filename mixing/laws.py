"""Regressions from mixture weights to a metric, and how well they predict runs they did not see.

Two laws, each with `fit(weights, values, seed)` and `predict(weights)`:
- `LogLinearLaw`: metric = c + exp(t . w), the mixing law of Ye et al. (2024, "Data Mixing Laws"),
  fit by nonlinear least squares from several starting points. Convex in w, so `propose` can
  solve for its minimum exactly.
- `TreeLaw`: LightGBM gradient-boosted trees, as RegMix (Liu et al., 2024) uses; sized for
  swarms of tens to hundreds of runs.
`cross_validate` scores a law by k-fold Spearman, Pearson and mean absolute error.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import pearsonr, spearmanr

MAX_EXPONENT = 50.0  # keeps exp() finite for weights far outside anything seen
RIDGE = 1e-4  # LogLinearLaw.fit: weight of the penalty on t's spread, relative to the values' variance


class LogLinearLaw:
    kind = "loglinear"

    def __init__(self, c: float, t: np.ndarray):
        self.c, self.t = float(c), np.asarray(t, dtype=np.float64)

    @classmethod
    def fit(cls, weights: np.ndarray, values: np.ndarray, seed: int = 0, ridge: float = RIDGE) -> LogLinearLaw:
        """Least squares from starts with c below the smallest value by 5%, 50% and 300% of the spread,
        t from a linear fit of log(value - c); the start that ends with the smallest error wins.

        A ridge term, ridge x (total sum of squares of the values) x |t - mean(t)|^2, keeps t finite
        along directions the runs do not pin down (a domain whose weight barely varied in the sweep),
        where the plain fit can reach |t| in the thousands and predict nonsense just outside the swept
        region. It leaves mean(t), the law's overall scale, free."""
        n, k = weights.shape
        spread = max(float(np.ptp(values)), 1e-6)
        shrink = np.sqrt(ridge * max(float(np.sum((values - values.mean()) ** 2)), 1e-12))
        centring = np.eye(k) - 1.0 / k

        def residuals(p):
            fit = p[0] + np.exp(np.minimum(weights @ p[1:], MAX_EXPONENT)) - values
            return np.concatenate([fit, shrink * centring @ p[1:]])

        def jacobian(p):
            e = np.exp(np.minimum(weights @ p[1:], MAX_EXPONENT))
            fit = np.column_stack([np.ones(n), e[:, None] * weights])
            return np.vstack([fit, np.column_stack([np.zeros(k), shrink * centring])])

        best = None
        for gap in (0.05, 0.5, 3.0):
            c0 = values.min() - gap * spread
            t0 = np.linalg.lstsq(weights, np.log(values - c0), rcond=None)[0]
            result = least_squares(residuals, np.concatenate([[c0], t0]), jac=jacobian, method="trf")
            if best is None or result.cost < best.cost:
                best = result
        return cls(best.x[0], best.x[1:])

    def predict(self, weights: np.ndarray) -> np.ndarray:
        return self.c + np.exp(np.minimum(np.asarray(weights) @ self.t, MAX_EXPONENT))

    def gradient(self, w: np.ndarray) -> np.ndarray:
        """d predict / d w at one mixture."""
        return np.exp(min(float(w @ self.t), MAX_EXPONENT)) * self.t

    def to_dict(self) -> dict:
        return {"kind": self.kind, "c": self.c, "t": self.t.tolist()}


class TreeLaw:
    kind = "lightgbm"

    def __init__(self, booster):
        self.booster = booster

    @classmethod
    def fit(cls, weights: np.ndarray, values: np.ndarray, seed: int = 0) -> TreeLaw:
        """Small trees and small leaves, since swarms are small: RegMix's defaults (31 leaves of at
        least 20 runs) leave a 64-run swarm with a handful of splits."""
        import lightgbm

        params = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 8,
                  "min_data_in_leaf": max(2, len(values) // 20), "min_data_in_bin": 1,
                  "seed": seed, "deterministic": True, "force_col_wise": True, "num_threads": 1, "verbosity": -1}
        data = lightgbm.Dataset(weights, values, params={"verbosity": -1, "min_data_in_bin": 1})
        return cls(lightgbm.train(params, data, num_boost_round=150, keep_training_booster=True))

    def predict(self, weights: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.atleast_2d(weights))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "trees": self.booster.num_trees()}


LAWS = {law.kind: law for law in (LogLinearLaw, TreeLaw)}


def fit_law(kind: str, weights: np.ndarray, values: np.ndarray, seed: int = 0):
    """Fit one law on the runs where `values` is known."""
    known = ~np.isnan(values)
    if known.sum() < 3:
        raise ValueError(f"only {int(known.sum())} runs have this metric; a law needs at least 3")
    return LAWS[kind].fit(weights[known], values[known], seed)


def scores(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Spearman and Pearson correlation and mean absolute error (NaN where undefined)."""
    if len(actual) < 3 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        rho = r = float("nan")
    else:
        rho, r = float(spearmanr(predicted, actual)[0]), float(pearsonr(predicted, actual)[0])
    return {"spearman": rho, "pearson": r, "mae": float(np.mean(np.abs(predicted - actual))), "n": len(actual)}


def cross_validate(kind: str, weights: np.ndarray, values: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions: each run predicted by the law fit on the other folds (NaN where unknown)."""
    known = np.flatnonzero(~np.isnan(values))
    order = np.random.default_rng(seed).permutation(known)
    predicted = np.full(len(values), np.nan)
    for held_out in np.array_split(order, min(folds, len(known))):
        train = np.setdiff1d(known, held_out)
        predicted[held_out] = fit_law(kind, weights[train], values[train], seed).predict(weights[held_out])
    return predicted


def evaluate(weights: np.ndarray, metrics: dict[str, np.ndarray], objective: dict[str, float],
             folds: int, seed: int, kinds: tuple[str, ...] = tuple(LAWS)) -> dict:
    """The laws' (by default both) k-fold scores for each metric of the objective and for the objective
    itself, with the out-of-fold predictions of the objective (for the predicted-vs-actual plot)."""
    actual = sum(c * metrics[m] for m, c in objective.items())
    report = {}
    for kind in kinds:
        per_metric, predicted = {}, 0.0
        for m, c in objective.items():
            oof = cross_validate(kind, weights, metrics[m], folds, seed)
            known = ~np.isnan(metrics[m])
            per_metric[m] = scores(oof[known], metrics[m][known])
            predicted = predicted + c * oof
        known = ~np.isnan(actual) & ~np.isnan(predicted)
        report[kind] = {"metrics": per_metric, "objective": scores(predicted[known], actual[known]),
                        "predicted": [None if np.isnan(p) else float(p) for p in predicted],
                        "actual": [None if np.isnan(a) else float(a) for a in actual]}
    return report
