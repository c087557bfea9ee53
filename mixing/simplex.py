"""Mixtures as points of the simplex under caps: per-domain lower and upper bounds, bounds on the
total weight of disjoint groups of domains, Dirichlet draws around a prior, projection onto the caps,
and rounding to a grid that keeps every cap.

A pinned domain is one whose lower and upper bounds are equal. Groups never share a domain
(mixing/config.py checks it), which keeps projection and rounding exact: a mixture is first split
between the groups (and the domains in none), then within each group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Group:
    """Bounds on the summed weight of some domains (e.g. every synthetic source: 0.33 to 0.67)."""

    name: str
    members: tuple[int, ...]  # indices of its domains
    lower: float
    upper: float


def _items(n: int, groups: Sequence[Group]) -> list[np.ndarray]:
    """The domains as items that share out the mixture: each group, then each domain in no group."""
    grouped = {i for g in groups for i in g.members}
    return [np.array(g.members) for g in groups] + [np.array([i]) for i in range(n) if i not in grouped]


def group_centre(prior: np.ndarray, groups: Sequence[Group]) -> np.ndarray:
    """The prior moved onto the group bounds with the least KL change: each group's total becomes
    clip(lambda * its prior share, lower, upper), the domains in no group share lambda * their prior,
    lambda set so the whole sums to one; inside a group the prior's ratios stay. The prior itself
    where it keeps every group bound."""
    if not groups or all(g.lower - TOLERANCE <= prior[list(g.members)].sum() <= g.upper + TOLERANCE
                         for g in groups):
        return prior
    members = [list(g.members) for g in groups]
    shares = np.array([prior[m].sum() for m in members])
    rest = prior.sum() - shares.sum()
    bounds = np.array([[g.lower, g.upper] for g in groups])

    def total(lam: float) -> float:
        return float(np.clip(lam * shares, bounds[:, 0], bounds[:, 1]).sum() + lam * rest)

    lo, hi = 0.0, 1.0
    while total(hi) < 1 and hi < 1e12:
        hi *= 2
    for _ in range(200):
        lo, hi = (lo, (lo + hi) / 2) if total((lo + hi) / 2) >= 1 else ((lo + hi) / 2, hi)
    lam = hi
    centre = prior * lam
    for m, share, (a, b) in zip(members, shares, bounds):
        centre[m] = prior[m] * np.clip(lam * share, a, b) / share
    return centre / centre.sum()


def group_sums(weights: np.ndarray, groups: Sequence[Group]) -> np.ndarray:
    """(rows, groups) summed weight of each group, for one mixture or each row."""
    w = np.atleast_2d(weights)
    return np.column_stack([w[:, list(g.members)].sum(axis=1) for g in groups]) if groups else np.zeros((len(w), 0))


def within_caps(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                groups: Sequence[Group] = ()) -> np.ndarray:
    """For each row of `weights` (or the one mixture), whether it sums to 1 and keeps every bound,
    the groups' included."""
    w = np.atleast_2d(weights)
    ok = (w >= lower - TOLERANCE).all(axis=1) & (w <= upper + TOLERANCE).all(axis=1)
    ok &= np.abs(w.sum(axis=1) - 1) <= 1e-6
    for g, sums in zip(groups, group_sums(w, groups).T):
        ok &= (sums >= g.lower - TOLERANCE) & (sums <= g.upper + TOLERANCE)
    return ok if np.ndim(weights) == 2 else bool(ok[0])


def dirichlet(rng: np.random.Generator, prior: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              concentration: float, size: int, groups: Sequence[Group] = ()) -> np.ndarray:
    """`size` mixtures that keep the lower bounds by construction: each domain's lower bound, plus the
    mass left over spread by Dirichlet(concentration * centre) over the free (not pinned) domains.
    The centre is the prior, moved onto the group bounds where it breaks one (`group_centre`), so
    that draws land inside a group's bounds as often as a prior already inside them would; the
    group bounds themselves are for the caller to keep (reject or project)."""
    centre = group_centre(prior, groups)
    free = (lower < upper) & (centre > 0)
    out = np.tile(lower, (size, 1))
    alpha = centre[free] / centre[free].sum() * concentration
    out[:, free] += rng.dirichlet(alpha, size=size) * (1 - lower.sum())
    return out


def _shift(w: np.ndarray, lower: np.ndarray, upper: np.ndarray, total) -> np.ndarray:
    """The tau (one per row) with clip(w - tau, lower, upper) summing to `total`, by bisection."""
    lo = w.min(axis=1, keepdims=True) - upper.max() - 1
    hi = w.max(axis=1, keepdims=True) - lower.min() + 1
    total = np.reshape(total, (-1, 1))
    for _ in range(100):
        tau = (lo + hi) / 2
        above = np.clip(w - tau, lower, upper).sum(axis=1, keepdims=True) > total
        lo, hi = np.where(above, tau, lo), np.where(above, hi, tau)
    return (lo + hi) / 2


def project(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, groups: Sequence[Group] = ()) -> np.ndarray:
    """The closest mixture that keeps the caps, for one mixture or each row: clip(w - tau, lower, upper)
    summing to one, tau found by bisection. With groups (KKT of the same problem): a group's total is
    its sum at that shift clipped into its bounds, which makes the whole a monotone function of tau
    (bisected the same way); then each group whose bound binds is projected onto its total alone."""
    w = np.atleast_2d(weights).astype(np.float64)
    if not groups:
        projected = np.clip(w - _shift(w, lower, upper, 1.0), lower, upper)
        return projected if np.ndim(weights) == 2 else projected[0]
    members = [list(g.members) for g in groups]
    g_lower, g_upper = np.array([g.lower for g in groups]), np.array([g.upper for g in groups])

    def totals(tau: np.ndarray) -> np.ndarray:  # (rows, groups): each group's clipped total at shift tau
        return np.clip(group_sums(np.clip(w - tau, lower, upper), groups), g_lower, g_upper)

    grouped = np.zeros(w.shape[1], dtype=bool)
    grouped[[i for m in members for i in m]] = True
    lo = np.full((len(w), 1), w.min() - upper.max() - 1)
    hi = np.full((len(w), 1), w.max() - lower.min() + 1)
    for _ in range(100):
        tau = (lo + hi) / 2
        whole = np.clip(w - tau, lower, upper)[:, ~grouped].sum(axis=1) + totals(tau).sum(axis=1)
        above = whole[:, None] > 1
        lo, hi = np.where(above, tau, lo), np.where(above, hi, tau)
    tau = (lo + hi) / 2
    projected = np.clip(w - tau, lower, upper)
    for m, target in zip(members, totals(tau).T):
        projected[:, m] = np.clip(w[:, m] - _shift(w[:, m], lower[m], upper[m], target), lower[m], upper[m])
    return projected if np.ndim(weights) == 2 else projected[0]


def grid_units(lower: np.ndarray, upper: np.ndarray, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """The bounds in grid units of 10**-decimals: the smallest and largest multiples inside the caps."""
    scale = 10**decimals
    return np.ceil(lower * scale - 1e-6).astype(np.int64), np.floor(upper * scale + 1e-6).astype(np.int64)


def group_units(lower: np.ndarray, upper: np.ndarray, groups: Sequence[Group],
                decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item (`_items`: each group, then each domain in none), the fewest and most grid units it may
    hold: a group's own bounds, narrowed to what its domains' caps allow."""
    lo, hi = grid_units(lower, upper, decimals)
    scale = 10**decimals
    items = _items(len(lower), groups)
    item_lo, item_hi = np.array([lo[m].sum() for m in items]), np.array([hi[m].sum() for m in items])
    for k, g in enumerate(groups):
        item_lo[k] = max(item_lo[k], int(np.ceil(g.lower * scale - 1e-6)))
        item_hi[k] = min(item_hi[k], int(np.floor(g.upper * scale + 1e-6)))
    return item_lo, item_hi


def _round_units(exact: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Integer units per row summing to `total` (per row) within [lo, hi]: floors clipped into the
    bounds, then units move by largest remainder."""
    units = np.clip(np.floor(exact).astype(np.int64), lo, hi)
    rows = np.arange(len(units))
    while (short := units.sum(axis=1) < total).any():
        room = np.where(units < hi, exact - units, -np.inf)
        units[rows[short], np.argmax(room[short], axis=1)] += 1
    while (over := units.sum(axis=1) > total).any():
        room = np.where(units > lo, exact - units, np.inf)
        units[rows[over], np.argmin(room[over], axis=1)] -= 1
    return units


def round_to_grid(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray, decimals: int,
                  groups: Sequence[Group] = ()) -> np.ndarray:
    """`weights` (one mixture or rows of them) as multiples of 10**-decimals that sum to exactly one
    and keep every cap: floors clipped into the caps, then units move by largest remainder. With
    groups, the units are first shared out between the items (groups, and domains in none) the same
    way, then within each group."""
    scale = 10**decimals
    lo, hi = grid_units(lower, upper, decimals)
    item_lo, item_hi = group_units(lower, upper, groups, decimals)
    if item_lo.sum() > scale or item_hi.sum() < scale or (item_lo > item_hi).any():
        raise ValueError(f"no mixture on a grid of 1e-{decimals} keeps these caps")
    exact = np.atleast_2d(weights) * scale
    total = np.full(len(exact), scale)
    if not groups:
        units = _round_units(exact, lo, hi, total)
    else:
        items = _items(len(lower), groups)
        shares = _round_units(np.column_stack([exact[:, m].sum(axis=1) for m in items]), item_lo, item_hi, total)
        units = np.zeros(exact.shape, dtype=np.int64)
        for k, m in enumerate(items):
            units[:, m] = _round_units(exact[:, m], lo[m], hi[m], shares[:, k])
    rounded = units / scale
    return rounded if np.ndim(weights) == 2 else rounded[0]
