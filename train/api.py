"""The trainer's public API for the other packages (mixing drives proxy runs through it).

    result = train(config_dict, out_dir)       # a train YAML's keys as a dict; `out` set to out_dir
    result.val[source]["loss" | "bpb"], result.tokens, result.flops
    model_flops_per_token(model, seq_len, vocab_size)   # training FLOPs per token, embedding included
"""

from __future__ import annotations

from pathlib import Path

from .config import ModelSpec, TrainConfig
from .model import flops_per_token, model_config
from .trainer import TrainResult
from .trainer import train as _train

__all__ = ["TrainConfig", "TrainResult", "model_flops_per_token", "train"]


def train(config: dict | TrainConfig, out_dir: str | Path | None = None) -> TrainResult:
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(
        {**config, "out": str(out_dir or config.get("out"))})
    if out_dir is not None:
        cfg = cfg.model_copy(update={"out": str(out_dir)})
    return _train(cfg)


def model_flops_per_token(model: dict | ModelSpec, seq_len: int, vocab_size: int) -> float:
    """6 x parameters (embedding and output layers included) + causal attention, per trained token."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec.model_validate(model)
    cfg = model_config(spec.size, **spec.model_dump(exclude={"size"}), vocab_size=vocab_size)
    return flops_per_token(cfg, seq_len, count_embedding=True)
