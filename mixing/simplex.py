"""Mixtures as points of the simplex under caps: per-domain lower and upper bounds, Dirichlet
draws around a prior, projection onto the caps, and rounding to a grid that keeps every cap.

A pinned domain is one whose lower and upper bounds are equal.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-9


def within_caps(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """For each row of `weights` (or the one mixture), whether it sums to 1 and keeps every bound."""
    w = np.atleast_2d(weights)
    ok = (w >= lower - TOLERANCE).all(axis=1) & (w <= upper + TOLERANCE).all(axis=1)
    ok &= np.abs(w.sum(axis=1) - 1) <= 1e-6
    return ok if np.ndim(weights) == 2 else bool(ok[0])


def dirichlet(rng: np.random.Generator, prior: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              concentration: float, size: int) -> np.ndarray:
    """`size` mixtures that keep the lower bounds by construction: each domain's lower bound, plus the
    mass left over spread by Dirichlet(concentration * prior) over the free (not pinned) domains."""
    free = lower < upper
    out = np.tile(lower, (size, 1))
    alpha = prior[free] / prior[free].sum() * concentration
    out[:, free] += rng.dirichlet(alpha, size=size) * (1 - lower.sum())
    return out


def project(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The closest mixture that keeps the caps, for one mixture or each row: clip(w - tau, lower, upper)
    summing to one, tau found by bisection."""
    w = np.atleast_2d(weights)
    lo = w.min(axis=1, keepdims=True) - upper.max() - 1
    hi = w.max(axis=1, keepdims=True) - lower.min() + 1
    for _ in range(100):
        tau = (lo + hi) / 2
        above = np.clip(w - tau, lower, upper).sum(axis=1, keepdims=True) > 1
        lo, hi = np.where(above, tau, lo), np.where(above, hi, tau)
    projected = np.clip(w - (lo + hi) / 2, lower, upper)
    return projected if np.ndim(weights) == 2 else projected[0]


def grid_units(lower: np.ndarray, upper: np.ndarray, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """The bounds in grid units of 10**-decimals: the smallest and largest multiples inside the caps."""
    scale = 10**decimals
    return np.ceil(lower * scale - 1e-6).astype(np.int64), np.floor(upper * scale + 1e-6).astype(np.int64)


def round_to_grid(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, decimals: int) -> np.ndarray:
    """`weights` (one mixture or rows of them) as multiples of 10**-decimals that sum to exactly one
    and keep every cap: floors clipped into the caps, then units move by largest remainder."""
    scale = 10**decimals
    lo, hi = grid_units(lower, upper, decimals)
    if lo.sum() > scale or hi.sum() < scale:
        raise ValueError(f"no mixture on a grid of 1e-{decimals} keeps these caps")
    exact = np.atleast_2d(weights) * scale
    units = np.clip(np.floor(exact).astype(np.int64), lo, hi)
    rows = np.arange(len(units))
    while (short := units.sum(axis=1) < scale).any():
        room = np.where(units < hi, exact - units, -np.inf)
        units[rows[short], np.argmax(room[short], axis=1)] += 1
    while (over := units.sum(axis=1) > scale).any():
        room = np.where(units > lo, exact - units, np.inf)
        units[rows[over], np.argmin(room[over], axis=1)] -= 1
    rounded = units / scale
    return rounded if np.ndim(weights) == 2 else rounded[0]
