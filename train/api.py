"""The trainer's public API for the other packages (mixing drives proxy runs through it).

    result = train(config_dict, out_dir)       # a train YAML's keys as a dict; `out` set to out_dir
    result.val[source]["loss" | "bpb"], result.tokens, result.flops
    model_flops_per_token(model, seq_len, vocab_size)   # training FLOPs per token, embedding included
    resolved_precision(settings)               # "bf16" | "fp32": what `train` would train these settings in here
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from .config import ModelSpec, TrainConfig
from .model import flops_per_token, model_config
from .parallelize import use_bf16
from .trainer import TrainResult, wants_cuda
from .trainer import train as _train

__all__ = ["TrainConfig", "TrainResult", "model_flops_per_token", "resolved_precision", "train"]


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


def resolved_precision(settings: dict) -> Literal["bf16", "fp32"]:
    """The precision `train` runs these train YAML keys in on this machine (only `precision`, `device`
    and `model` are read, defaults as in TrainConfig): `auto` resolved by model width and device."""
    precision = settings.get("precision", "auto")
    if precision != "auto":
        return precision
    spec = ModelSpec.model_validate(settings.get("model") or {})
    dim = model_config(spec.size, **spec.model_dump(exclude={"size"})).dim
    device = torch.device("cuda" if wants_cuda(settings.get("device", "auto")) else "cpu")
    return "bf16" if use_bf16(precision, device, dim) else "fp32"
