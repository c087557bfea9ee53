"""What mixing reads and writes: swarm CSVs in RegMix's layout, mixture YAML files, JSON written atomically.

A swarm is a set of proxy runs in two CSV files joined on an `index` column: the mixtures file has
one column per domain weight, the metrics file one column per metric (one row per run in both).
Files without `index` are joined by row order. That is the layout of RegMix's published data, so a
past or published sweep refits as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from provenance.files import atomic_path, write_atomic
from provenance.yamlfile import ConfigError

INDEX = "index"


@dataclass(frozen=True)
class Swarm:
    """Proxy runs: the mixture each trained on and the metrics it reached (NaN where a run lacks one)."""

    index: np.ndarray
    domains: list[str]
    weights: np.ndarray  # (runs, domains)
    metrics: dict[str, np.ndarray]  # column -> (runs,)

    def objective(self, coefficients: dict[str, float]) -> np.ndarray:
        """The weighted sum of metric columns that `propose` minimises, per run."""
        return sum(c * self.metrics[m] for m, c in coefficients.items())


def _read_csv(path: str | Path) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema_length=None)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except pl.exceptions.PolarsError as err:
        raise ConfigError([f"{path}: not a readable CSV file: {err}"]) from None
    bad = [c for c, t in frame.schema.items() if not t.is_numeric()]
    if bad:
        raise ConfigError([f"{path}: column(s) {', '.join(bad)} are not numbers"])
    if frame.height == 0:
        raise ConfigError([f"{path}: no rows"])
    return frame


def csv_columns(path: str | Path) -> list[str]:
    """The data columns of a swarm CSV (everything but `index`)."""
    return [c for c in _read_csv(path).columns if c != INDEX]


def read_swarm(mixtures_path: str | Path, metrics_path: str | Path) -> Swarm:
    mixtures, metrics = _read_csv(mixtures_path), _read_csv(metrics_path)
    domains = [c for c in mixtures.columns if c != INDEX]
    metric_names = [c for c in metrics.columns if c != INDEX]
    shared = sorted(set(domains) & set(metric_names))
    if shared:
        raise ConfigError([f"{mixtures_path} and {metrics_path} both have column(s) {', '.join(shared)}"])
    if INDEX in mixtures.columns and INDEX in metrics.columns:
        for frame, path in ((mixtures, mixtures_path), (metrics, metrics_path)):
            if frame[INDEX].is_duplicated().any():
                raise ConfigError([f"{path}: the {INDEX} column repeats values"])
        joined = mixtures.join(metrics, on=INDEX, how="inner").sort(INDEX)
    elif mixtures.height == metrics.height:
        joined = pl.concat([mixtures.drop(INDEX, strict=False).with_row_index(INDEX),
                            metrics.drop(INDEX, strict=False)], how="horizontal")
    else:
        raise ConfigError([f"{mixtures_path} ({mixtures.height} rows) and {metrics_path} ({metrics.height} rows): "
                           f"without an `{INDEX}` column in both, the rows must match one to one"])
    return Swarm(index=joined[INDEX].to_numpy(),
                 domains=domains,
                 weights=joined.select(domains).to_numpy().astype(np.float64),
                 metrics={m: joined[m].cast(pl.Float64).fill_null(np.nan).to_numpy() for m in metric_names})


def read_mixtures(path: str | Path) -> Swarm:
    """A CSV of mixtures alone (an `index` column and one weight column per domain), as a Swarm without metrics."""
    frame = _read_csv(path)
    if INDEX not in frame.columns:
        frame = frame.with_row_index(INDEX)
    domains = [c for c in frame.columns if c != INDEX]
    return Swarm(index=frame[INDEX].to_numpy(), domains=domains,
                 weights=frame.select(domains).to_numpy().astype(np.float64), metrics={})


def write_csv(path: Path, index: list[int], columns: dict[str, list[float]]) -> None:
    frame = pl.DataFrame({INDEX: index, **columns}, schema={INDEX: pl.Int64, **{c: pl.Float64 for c in columns}})
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=1, allow_nan=True) + "\n")


def write_mixture(path: Path, weights: dict[str, float], tokens_dir: str | None, seed: int,
                  max_epochs: float | dict[str, float], comments: list[str] = ()) -> None:
    """A mixture YAML as `gristmill train` reads it (tokens, seed, weights, max_epochs), with `# ` comments
    on top; without `tokens` where the shards are unknown (a swarm refit from CSVs)."""
    body = {"tokens": tokens_dir, "seed": seed, "weights": weights, "max_epochs": max_epochs}
    if tokens_dir is None:
        del body["tokens"]
    text = "".join(f"# {line}\n" for line in comments) + yaml.safe_dump(body, sort_keys=False)
    write_atomic(path, text)
