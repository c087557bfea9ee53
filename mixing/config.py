"""The mix YAML (pipelines/mix.yaml) and what it resolves to: domains, prior, caps, objective, run folder.

`load_plan` checks the whole file, reads the token counts from the shards' meta.json (or the
header of a swarm's CSVs), turns the caps into per-domain lower and upper weights at the target
scale (with bounds on groups of domains, e.g. the synthetic ones), and names the run folder by the hash of everything that decides the sweep. Every mistake
is a `ConfigError` naming the file, the line and the key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from provenance.yamlfile import ConfigError, Located, Strict, apply_overrides, load_yaml, validate

from .files import csv_columns, read_swarm
from .simplex import Group, grid_units, group_units

PerDomain = float | dict[str, float]
Positive = Annotated[float, Field(gt=0)]


class Target(Strict):
    tokens: int = Field(gt=0)  # tokens of the final run: the scale the caps apply at
    model: dict[str, Any] = {"size": "125M"}  # the final run's model, for the cost comparison
    seq_len: int = Field(2048, gt=0)


class GroupCap(Strict):
    """e.g. {name: synthetic, sources: [synth/*], min: 0.33, max: 0.67}: every synthetic source together.
    Sources are domain names or shell globs over them (fnmatch): tokenize's meta.json does not record
    which sources are synthetic, so the YAML names them."""

    name: str
    sources: list[str] = Field(min_length=1)
    min: float = Field(0.0, ge=0, le=1)
    max: float = Field(1.0, ge=0, le=1)


class Caps(Strict):
    max_epochs: PerDomain = 4.0  # repeats of a domain's tokens allowed at target.tokens
    min_weight: PerDomain = 0.0
    max_weight: PerDomain = 1.0
    pinned: dict[str, float] = {}  # domains held at a fixed weight
    groups: list[GroupCap] = []  # bounds on the summed weight of disjoint sets of domains


class Proxy(BaseModel):
    """One proxy's training: train YAML keys; `tokens` and `lr` make its one stage, the rest pass through."""

    model_config = ConfigDict(extra="allow")
    tokens: int = Field(gt=0)
    model: dict[str, Any] = {"size": "tiny"}
    seq_len: int = Field(256, gt=0)
    lr: dict[str, Any] = {"peak": 3e-3, "min": 3e-4, "warmup_steps": 20, "schedule": "cosine"}


class Sweep(Strict):
    proxies: int = Field(32, gt=0)
    concentrations: list[Positive] = Field([0.3, 1.0, 3.0, 10.0], min_length=1)  # Dirichlet strengths
    parallel: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)  # proxies trained at once
    proxy: Proxy


class SwarmFiles(Strict):
    mixtures: str  # CSV: index + one column per domain weight
    metrics: str  # CSV: index + one column per metric


class Fit(Strict):
    law: Literal["loglinear", "lightgbm"] = "loglinear"  # the law `propose` uses; `fit` scores both
    folds: int = Field(5, ge=2)


class Propose(Strict):
    method: Literal["search", "solve"] = "search"  # top-k average of scored draws, or the log-linear exact solve
    kl_to_prior: float = Field(0.0, ge=0)  # solve: pull toward the prior
    samples: int = Field(100_000, gt=0)  # search: Dirichlet draws scored
    top_k: int = Field(100, gt=0)  # search: best draws averaged
    concentrations: list[Positive] = Field([0.3, 1.0, 3.0, 10.0], min_length=1)  # search: Dirichlet strengths
    min_spearman: float = Field(0.3, ge=-1, le=1)  # the law's k-fold Spearman below which propose refuses


class Validate(Strict):
    random: int = Field(4, ge=0)  # held-out random mixtures trained beside the proposal
    seeds: int = Field(3, gt=0)  # each held-out mixture trained this many times (data order and init seed)
    temperature: float = Field(3.0, gt=0)  # baseline weights ∝ token share ** (1 / temperature)
    proxy: dict[str, Any] = {}  # keys of sweep.proxy to change for validation runs (e.g. a larger model)


class MixConfig(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    out: str = "out/mix"  # run folders go here, one per sweep: NAME-HASH
    tokens: str | None = None  # token shards written by `gristmill tokenize`
    swarm: SwarmFiles | None = None  # or: proxy runs made elsewhere, to refit
    domains: list[str] | None = None  # default: every source in tokens/meta.json, or every swarm column
    prior: Literal["tokens", "uniform", "swarm"] | dict[str, Positive] | None = None  # default: tokens, else swarm
    seed: int = 0
    decimals: int = Field(4, ge=1, le=6)  # weights are multiples of 10**-decimals
    target: Target | None = None
    caps: Caps = Caps()
    objective: dict[str, float] | None = None  # metric column -> coefficient; default: mean loss over domains
    sweep: Sweep | None = None
    fit: Fit = Fit()
    propose: Propose = Propose()
    validation: Validate = Field(Validate(), alias="validate")


@dataclass(frozen=True)
class Domains:
    names: list[str]
    prior: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    tokens: np.ndarray | None  # training tokens per domain in the shards; None for a swarm without shards
    max_epochs: np.ndarray | None  # epochs allowed at target.tokens, where tokens are known
    groups: tuple[Group, ...] = ()  # bounds on the summed weight of disjoint sets of domains

    def as_dict(self, weights: np.ndarray) -> dict[str, float]:
        return {n: float(w) for n, w in zip(self.names, weights)}


@dataclass(frozen=True)
class MixPlan:
    config: MixConfig
    domains: Domains
    objective: dict[str, float]
    metrics: list[str]  # the metric columns runs have (a sweep writes loss/D and bpb/D)
    vocab_size: int | None
    sweep_hash: str
    run_dir: Path


def load_plan(path: str | os.PathLike, overrides: list[str] = ()) -> MixPlan:
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    return resolve(validate(doc, MixConfig), doc)


def resolve(cfg: MixConfig, doc: Located | None = None) -> MixPlan:
    """Check `cfg` against the shards or swarm it names; `doc` gives errors their file and line."""
    errors: list[str] = []

    def error(keys: tuple, message: str) -> None:
        errors.append(doc.error(keys, message) if doc else f"{'.'.join(map(str, keys))}: {message}")

    def stop() -> None:
        if errors:
            raise ConfigError(errors)

    if cfg.tokens is None and cfg.swarm is None:
        error((), "set `tokens` (shards to sweep over) or `swarm` (CSVs of runs to refit)")
    if cfg.sweep is not None and cfg.swarm is not None:
        error(("swarm",), "a config sweeps (`sweep`) or refits a swarm made elsewhere (`swarm`), not both")
    if cfg.sweep is not None and cfg.tokens is None:
        error(("sweep",), "a sweep trains on `tokens`: set it")
    if cfg.tokens is not None and cfg.target is None:
        error(("target",), "set target.tokens (the final run's tokens): the caps apply at that scale")
    if cfg.propose.method == "solve" and cfg.fit.law != "loglinear":
        error(("propose", "method"), "the exact solve needs fit.law: loglinear; trees are searched (method: search)")
    stop()
    meta = _read_meta(cfg.tokens, error) if cfg.tokens else None
    swarm_columns = _swarm_columns(cfg.swarm, error) if cfg.swarm else None
    stop()
    names = _domain_names(cfg, meta, swarm_columns, error)
    stop()
    tokens = None
    if meta is not None:
        tokens = np.array([meta["sources"][n]["train"]["tokens"] for n in names], dtype=np.float64)
        for n, t in zip(names, tokens):
            if t <= 0:
                error(("domains",), f"{n} has no training tokens in {cfg.tokens}")
    prior = _prior(cfg, names, tokens, error)
    stop()
    domains = _caps(cfg, names, prior, tokens, error)
    metrics = swarm_columns[1] if swarm_columns else [f"{m}/{n}" for m in ("loss", "bpb") for n in names]
    objective = _objective(cfg, names, metrics, error)
    if cfg.sweep is not None and cfg.sweep.proxy.tokens > cfg.target.tokens:
        error(("sweep", "proxy", "tokens"), "larger than target.tokens; proxies are the small runs")
    stop()
    digest = _sweep_hash(cfg, domains, meta)
    return MixPlan(config=cfg, domains=domains, objective=objective, metrics=metrics,
                   vocab_size=meta.get("vocab_size") if meta else None, sweep_hash=digest,
                   run_dir=Path(cfg.out) / f"{cfg.name}-{digest[:12]}")


def _read_meta(tokens: str, error) -> dict | None:
    path = Path(tokens) / "meta.json"
    if not path.is_file():
        error(("tokens",), f"{tokens} has no meta.json; run `gristmill tokenize` first")
        return None
    return json.loads(path.read_text())


def _swarm_columns(swarm: SwarmFiles, error) -> tuple[list[str], list[str]] | None:
    try:
        return csv_columns(swarm.mixtures), csv_columns(swarm.metrics)
    except ConfigError as err:
        for line in err.errors:
            error(("swarm",), line)
        return None


def _domain_names(cfg: MixConfig, meta: dict | None, swarm_columns, error) -> list[str]:
    known = swarm_columns[0] if swarm_columns else list(meta["sources"])
    where = cfg.swarm.mixtures if swarm_columns else f"{cfg.tokens}/meta.json"
    if cfg.domains is None:
        names = known
    else:
        names = cfg.domains
        for i, n in enumerate(names):
            if n not in known:
                error(("domains", i), f"{n!r} is not in {where} (there: {', '.join(known)})")
        if swarm_columns and sorted(names) != sorted(known):
            error(("domains",), f"a swarm's domains are its mixture columns: {', '.join(known)}")
        if len(set(names)) != len(names):
            error(("domains",), "a domain is listed twice")
    if meta is not None and swarm_columns:
        for n in names:
            if n not in meta["sources"]:
                error(("swarm", "mixtures"), f"column {n!r} is not a source in {cfg.tokens}/meta.json")
    if len(names) < 2:
        error(("domains",), "a mixture needs at least two domains")
    return list(names)


def _prior(cfg: MixConfig, names: list[str], tokens, error) -> np.ndarray | None:
    prior = cfg.prior if cfg.prior is not None else ("tokens" if tokens is not None else "swarm")
    if prior == "tokens":
        if tokens is None:
            error(("prior",), "token shares need `tokens`; use uniform, swarm or a mapping")
            return None
        values = tokens
    elif prior == "uniform":
        values = np.ones(len(names))
    elif prior == "swarm":
        if cfg.swarm is None:
            error(("prior",), "`swarm` (the mean mixture of a swarm) needs `swarm`")
            return None
        values = read_swarm(cfg.swarm.mixtures, cfg.swarm.metrics).weights.mean(axis=0)
    else:
        unknown = sorted(set(prior) - set(names))
        missing = [n for n in names if n not in prior]
        if unknown:
            error(("prior", unknown[0]), f"not a domain: {', '.join(unknown)}")
        if missing:
            error(("prior",), f"give every domain a weight; missing: {', '.join(missing)}")
        if unknown or missing:
            return None
        values = np.array([prior[n] for n in names], dtype=np.float64)
    empty = [n for n, v in zip(names, values) if v <= 0]
    if empty:
        error(("prior",), f"{', '.join(empty)} would have no weight in the prior (nothing to draw around); "
              "drop them from `domains` or give a prior mapping")
        return None
    return values / values.sum()


def _per_domain(value: PerDomain, names: list[str], default: float, keys: tuple, error) -> np.ndarray:
    if not isinstance(value, dict):
        return np.full(len(names), float(value))
    for k in value:
        if k not in names:
            error(keys + (k,), f"not a domain (domains: {', '.join(names)})")
    return np.array([float(value.get(n, default)) for n in names])


def _caps(cfg: MixConfig, names: list[str], prior, tokens, error) -> Domains:
    caps = cfg.caps
    lower = _per_domain(caps.min_weight, names, 0.0, ("caps", "min_weight"), error)
    upper = _per_domain(caps.max_weight, names, 1.0, ("caps", "max_weight"), error)
    max_epochs = None
    if tokens is not None:
        max_epochs = _per_domain(caps.max_epochs, names, 4.0, ("caps", "max_epochs"), error)
        upper = np.minimum(upper, max_epochs * tokens / cfg.target.tokens)
    elif "max_epochs" in caps.model_fields_set:
        error(("caps", "max_epochs"), "needs `tokens` (each domain's token count) to apply")
    scale = 10**cfg.decimals
    for n, w in caps.pinned.items():
        if n not in names:
            error(("caps", "pinned", n), f"not a domain (domains: {', '.join(names)})")
        elif not 0 <= w <= 1 or abs(w * scale - round(w * scale)) > 1e-6:
            error(("caps", "pinned", n), f"{w:g} is not a weight in [0, 1] with at most {cfg.decimals} decimals")
        else:
            i = names.index(n)
            if w > upper[i] + 1e-12:
                error(("caps", "pinned", n), f"{w:g} is above the {upper[i]:.4g} that max_weight/max_epochs allow")
            lower[i] = upper[i] = w
    for i, n in enumerate(names):
        if lower[i] > upper[i] + 1e-12:
            error(("caps",), f"{n}: min_weight {lower[i]:g} is above the largest weight allowed, {upper[i]:.4g}"
                  " (max_weight, or max_epochs x its tokens / target.tokens)")
    lo_units, hi_units = grid_units(lower, upper, cfg.decimals)
    if lo_units.sum() > scale:
        error(("caps",), f"min_weight and pinned weights add up to {lower.sum():.4g}, more than 1")
    if hi_units.sum() < scale:
        error(("caps",), f"the caps allow at most {upper.sum():.4g} of the mixture in all: raise max_weight or "
              "max_epochs, or lower target.tokens (largest weight per domain: "
              + ", ".join(f"{n} {u:.4g}" for n, u in zip(names, upper)) + ")")
    groups = _groups(caps.groups, names, lower, upper, cfg.decimals, error) if caps.groups else ()
    return Domains(names=names, prior=prior, lower=lower, upper=upper, tokens=tokens, max_epochs=max_epochs,
                   groups=groups)


def _groups(specs: list[GroupCap], names: list[str], lower, upper, decimals: int, error) -> tuple[Group, ...]:
    """caps.groups as `Group`s: every source pattern must match a domain, no domain may be in two
    groups, and the group bounds must be keepable together with the per-domain caps."""
    groups, owner, seen, found = [], {}, set(), []

    def error_here(keys: tuple, message: str) -> None:
        found.append(message)
        error(keys, message)

    for k, spec in enumerate(specs):
        where = ("caps", "groups", k)
        if spec.name in seen:
            error_here(where + ("name",), f"{spec.name!r} names two groups")
        seen.add(spec.name)
        members: list[int] = []
        for j, pattern in enumerate(spec.sources):
            matched = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                error_here(where + ("sources", j), f"{pattern!r} matches no domain (domains: {', '.join(names)})")
            members += [i for i in matched if i not in members]
        for i in members:
            if i in owner and owner[i] != k:
                error_here(where + ("sources",), f"{names[i]} is also in group {specs[owner[i]].name!r}: "
                           "groups may not share a domain")
            owner.setdefault(i, k)
        if spec.min > spec.max:
            error_here(where, f"{spec.name}: min {spec.min:g} is above max {spec.max:g}")
        elif members:
            low, high = lower[members].sum(), upper[members].sum()
            listed = ", ".join(names[i] for i in members)
            if spec.min > high + 1e-12:
                error_here(where + ("min",), f"{spec.name}: min {spec.min:g} is above the {high:.4g} its domains "
                           f"({listed}) may hold in all under max_weight/max_epochs/pinned")
            if spec.max < low - 1e-12:
                error_here(where + ("max",), f"{spec.name}: max {spec.max:g} is below the {low:.4g} its domains "
                           f"({listed}) need in all under min_weight/pinned")
        groups.append(Group(spec.name, tuple(members), spec.min, spec.max))
    if found:
        return ()
    scale = 10**decimals
    item_lo, item_hi = group_units(lower, upper, groups, decimals)
    if (item_lo > item_hi).any():
        bad = [g.name for g, a, b in zip(groups, item_lo, item_hi) if a > b]
        error(("caps", "groups"), f"no weight on a grid of 1e-{decimals} keeps the bounds of {', '.join(bad)}")
    elif item_lo.sum() > scale:
        error(("caps", "groups"), f"the group minimums with min_weight and pinned weights need "
              f"{item_lo.sum() / scale:.4g} of the mixture, more than 1")
    elif item_hi.sum() < scale:
        error(("caps", "groups"), f"the group maximums with max_weight, max_epochs and pinned weights allow at "
              f"most {item_hi.sum() / scale:.4g} of the mixture in all")
    return tuple(groups)


def _objective(cfg: MixConfig, names: list[str], metrics: list[str], error) -> dict[str, float]:
    if cfg.objective is None:
        if cfg.swarm is not None:
            error(("objective",), f"name the metric column(s) to minimise, e.g. {{{metrics[0]}: 1.0}} "
                  f"(columns: {', '.join(metrics)})")
        return {f"loss/{n}": 1 / len(names) for n in names}
    for k in cfg.objective:
        if k not in metrics:
            error(("objective", k), f"not a metric column (columns: {', '.join(metrics)})")
    if not cfg.objective:
        error(("objective",), "name at least one metric column")
    return dict(cfg.objective)


def _sweep_hash(cfg: MixConfig, domains: Domains, meta: dict | None) -> str:
    """Everything that decides the proxies a sweep trains, and nothing else: not `parallel`, and not
    the number of proxies, since the first n mixtures of a larger sweep are the n of a smaller one."""
    identity: dict[str, Any] = {
        "domains": domains.names, "prior": domains.prior.round(12).tolist(),
        "lower": domains.lower.round(12).tolist(), "upper": domains.upper.round(12).tolist(),
        "seed": cfg.seed, "decimals": cfg.decimals,
    }
    if domains.groups:  # only where set, so that configs without groups keep their run folders
        identity["groups"] = [[g.name, list(g.members), g.lower, g.upper] for g in domains.groups]
    if cfg.swarm is not None:
        identity["swarm"] = [hashlib.sha256(Path(p).read_bytes()).hexdigest()
                             for p in (cfg.swarm.mixtures, cfg.swarm.metrics)]
    if cfg.sweep is not None:
        identity["sweep"] = cfg.sweep.model_dump(exclude={"parallel", "proxies"})  # a sweep can grow
        identity["tokens"] = {"dir": cfg.tokens, "counts": domains.tokens.tolist(),
                              "tokenizer": meta.get("config_hash")}
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
