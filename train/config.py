"""The train YAML: model, batch, stages (each a mixture, a token budget and an LR schedule), and
the switches for compile, activation checkpointing, kernels and checkpoints."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from provenance.yamlfile import ConfigError, Located, Strict, apply_overrides, load_yaml, validate

from .data import MixtureConfig, read_meta


class ModelSpec(Strict):
    size: str | None = "tiny"  # a name in train/model.py SIZES; fields below override it
    dim: int | None = None
    n_layers: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    ffn_dim: int | None = None

    @model_validator(mode="after")
    def _known_size(self):
        from .model import model_config  # imports torch: only when a train YAML is checked

        model_config(self.size, **self.model_dump(exclude={"size"}, exclude_none=True))  # ValueError names the sizes
        return self


class LRConfig(Strict):
    peak: float = Field(gt=0)
    min: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["cosine", "wsd", "linear", "constant"] = "cosine"
    decay_fraction: float = Field(default=0.2, gt=0, le=1)  # wsd: the last fraction of steps decays


class StageConfig(Strict):
    name: str = "main"
    mixture: str | MixtureConfig  # a mixture YAML file, or the mixture inline
    tokens: int = Field(gt=0)  # the stage's budget; rounded down to whole steps
    lr: LRConfig


class EvalConfig(Strict):
    every: int = Field(default=100, ge=0)  # steps; 0 = only at the end of each stage
    max_tokens_per_source: int = Field(default=131072, gt=0)


class CheckpointConfig(Strict):
    every: int = Field(default=0, ge=0)  # steps; 0 = only at the end
    keep: int = Field(default=2, gt=0)


class TrainConfig(Strict):
    out: str
    model: ModelSpec = ModelSpec()
    seq_len: int = Field(default=256, gt=0)
    micro_batch: int = Field(default=8, gt=0)  # sequences per rank per forward
    grad_accum: int = Field(default=1, gt=0)
    stages: list[StageConfig] = Field(min_length=1)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = Field(default=1.0, ge=0)  # 0 = off
    eval: EvalConfig = EvalConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    log_every: int = Field(default=10, gt=0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = False
    activation_checkpointing: bool = False
    kernels: Literal["auto", "torch", "liger", "liger-loss"] = "auto"
    # auto: bf16 on GPU (FSDP's bf16 parameters), and on CPUs that multiply bf16 in hardware
    # (AVX512-BF16, AMX: autocast) for models of dim >= 256; fp32 elsewhere (train/parallelize.py use_bf16).
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    export: bool = True  # write a transformers checkpoint to OUT/hf at the end

    @model_validator(mode="after")
    def _unique_stage_names(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must differ: {names}")
        return self


def resolve_mixture(stage: StageConfig) -> MixtureConfig:
    if isinstance(stage.mixture, MixtureConfig):
        return stage.mixture
    return validate(load_yaml(stage.mixture), MixtureConfig)


def load_train_config(path: str, overrides: list[str] = ()) -> TrainConfig:
    """The train YAML with every mixture it names checked against its tokens (sources, weights), each
    error with its file, line and key, before any data is loaded."""
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    cfg = validate(doc, TrainConfig)
    errors = []
    for i, stage in enumerate(cfg.stages):
        if isinstance(stage.mixture, MixtureConfig):
            mixture, where, keys = stage.mixture, doc, ("stages", i, "mixture")
        else:
            try:
                where = load_yaml(stage.mixture)
                mixture, keys = validate(where, MixtureConfig), ()
            except ConfigError as err:
                errors += [f"{doc.error(('stages', i, 'mixture'), 'in the mixture file:')} {e}" for e in err.errors]
                continue
        errors += mixture_errors(mixture, where, keys)
    if errors:
        raise ConfigError(errors)
    return cfg


def mixture_errors(mixture: MixtureConfig, doc: Located, keys: tuple) -> list[str]:
    """Sources a mixture names that its tokens do not hold, and impossible weights."""
    if not (Path(mixture.tokens) / "meta.json").is_file():
        return [doc.error(keys + ("tokens",), f"{mixture.tokens} has no meta.json; run `gristmill tokenize` first")]
    known = list(read_meta(mixture.tokens)["sources"])
    errors = []
    for source, weight in mixture.weights.items():
        if source not in known:
            close = difflib.get_close_matches(source, known, n=2)
            hint = f"did you mean {', '.join(close)}?" if close else f"sources there: {', '.join(known)}"
            errors.append(doc.error(keys + ("weights", source), f"no source {source!r} in {mixture.tokens}; {hint}"))
        if weight < 0:
            errors.append(doc.error(keys + ("weights", source), "a weight cannot be negative"))
    if not errors and not any(mixture.weights.values()):
        errors.append(doc.error(keys + ("weights",), "every weight is zero"))
    return errors
