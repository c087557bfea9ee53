"""The training loop: stages of mixtures, each a token budget with its own LR schedule.

Per step: for each micro-batch, forward + loss + backward; clip; AdamW step; log. Every
`eval.every` steps (and at the end of each stage) the validation loss per source of every
mixture; every `checkpoint.every` steps (and at the end) a DCP checkpoint. One process on CPU,
or one process per rank under torchrun (gloo on CPU, NCCL on GPU) with FSDP2.

summary.json (rank 0, at the end) names what the run trained on, per stage: the tokenize output
(with its meta.json's sha256, which lists the curated runs behind it) and the mixture file's sha256.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from provenance.files import file_sha256, write_atomic
from provenance.yamlfile import ConfigError

from . import checkpoint
from .config import LRConfig, StageConfig, TrainConfig, resolve_mixture
from .data import MixtureConfig, MixtureIndex, MixtureLoader, read_meta, validation_windows
from .kernels import get_kernels
from .model import Transformer, flops_per_token, model_config
from .parallelize import parallelize, use_bf16


@dataclass
class TrainResult:
    steps: int
    tokens: int
    flops: float  # training FLOPs of the run (train/model.py flops_per_token, embedding included)
    final_loss: float
    val: dict[str, dict[str, float]] = field(default_factory=dict)  # source -> {"loss", "bpb"}
    tokens_by_source: dict[str, int] = field(default_factory=dict)
    out: str = ""


def lr_at(lr: LRConfig, step: int, total: int) -> float:
    """Learning rate at `step` (0-based) of a stage of `total` steps."""
    if step < lr.warmup_steps:
        return lr.peak * (step + 1) / lr.warmup_steps
    if lr.schedule == "constant":
        return lr.peak
    if lr.schedule == "wsd":
        decay_start = total - max(1, round(total * lr.decay_fraction))
        if step < decay_start:
            return lr.peak
        progress = (step - decay_start + 1) / max(1, total - decay_start)
    else:
        progress = (step - lr.warmup_steps + 1) / max(1, total - lr.warmup_steps)
    progress = min(1.0, progress)
    if lr.schedule == "cosine":
        return lr.min + (lr.peak - lr.min) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr.peak + (lr.min - lr.peak) * progress  # linear, and wsd's decay


def wants_cuda(device_choice: str) -> bool:
    """Whether `device: auto|cpu|cuda` means a GPU here."""
    return torch.cuda.is_available() if device_choice == "auto" else device_choice == "cuda"


def setup_distributed(device_choice: str) -> tuple[int, int, torch.device]:
    """(rank, world, device). Under torchrun: one process per rank; on CUDA always a process group,
    so that FSDP's bf16 mixed precision also serves a single GPU."""
    cuda = wants_cuda(device_choice)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:  # before the process group, so that NCCL's communicator and barriers use this rank's GPU
        torch.cuda.set_device(local)
    if world > 1 or cuda:
        if not dist.is_initialized():
            if "MASTER_ADDR" not in os.environ:  # one process outside torchrun
                os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("MASTER_PORT", "29511"),
                                  RANK="0", WORLD_SIZE="1")
            dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=10))
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank = 0
    if cuda:
        return rank, world, torch.device("cuda", local)
    if world > 1:  # ranks share this machine's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    return rank, world, torch.device("cpu")


def all_mean(values: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= dist.get_world_size()
    return values


@torch.no_grad()
def evaluate(model, tokens_dir: str, meta: dict, sources: list[str], cfg: TrainConfig, rank: int, world: int,
             device) -> dict[str, dict[str, float]]:
    """Mean loss per token and bits per byte on each source's held-out windows. Every rank runs
    the same number of forwards (FSDP gathers need all ranks), padding with zero-weight rows."""
    model.eval()
    results = {}
    for source in sources:
        windows = validation_windows(tokens_dir, source, cfg.seq_len, cfg.eval.max_tokens_per_source)
        if len(windows) == 0:
            continue
        per_step = cfg.micro_batch * world
        total = torch.zeros(2, dtype=torch.float64, device=device)
        for start in range(0, len(windows), per_step):
            mine = windows[start + rank * cfg.micro_batch: start + (rank + 1) * cfg.micro_batch]
            weight = len(mine)
            rows = torch.from_numpy(mine if weight else windows[:1]).to(device)
            loss = model(rows[:, :-1], rows[:, 1:]).double()
            total += torch.stack([loss * weight * cfg.seq_len, torch.tensor(weight * cfg.seq_len, device=device,
                                                                               dtype=torch.float64)])
        if dist.is_initialized():
            dist.all_reduce(total)
        loss = (total[0] / total[1]).item()
        val = meta["sources"][source]["val"]
        results[source] = {"loss": loss, "bpb": loss / math.log(2) * val["tokens"] / max(1, val["bytes"])}
    model.train()
    return results


class Metrics:
    """metrics.jsonl (rank 0) plus a progress line every `log_every` steps."""

    def __init__(self, path: Path, rank: int, log_every: int, resume_step: int):
        self.rank, self.log_every = rank, log_every
        self.path = path
        if rank == 0 and path.exists():  # drop rows past the checkpoint we resume from
            rows = [r for r in path.read_text().splitlines() if json.loads(r).get("step", 0) <= resume_step]
            path.write_text("".join(r + "\n" for r in rows))

    def write(self, row: dict) -> None:
        if self.rank == 0:
            with open(self.path, "a") as fh:
                fh.write(json.dumps(row) + "\n")

    def progress(self, row: dict, total_steps: int) -> None:
        if self.rank == 0 and (row["step"] % self.log_every == 0 or row["step"] == total_steps):
            print(f"[{row['stage']}] step {row['step']}/{total_steps} loss {row['loss']:.4f} "
                  f"lr {row['lr']:.2e} grad {row['grad_norm']:.3f} {row['tokens_per_s']:,.0f} tok/s", flush=True)


def build(mcfg, cfg: TrainConfig, device: torch.device, bf16: bool):
    """The model (initialised, wrapped by parallelize; bf16 from parallelize.use_bf16) and its AdamW, as
    every training run makes them."""
    torch.manual_seed(cfg.seed)
    model = Transformer(mcfg, get_kernels(cfg.kernels, device, compile_loss=cfg.compile))
    model.init_weights(cfg.seed)
    model.to(device)
    on_gpu = device.type == "cuda"
    model = parallelize(model, activation_checkpointing=cfg.activation_checkpointing, compile=cfg.compile,
                        shard=dist.is_initialized(), bf16=bf16)
    fused = on_gpu or not dist.is_initialized()  # torch's fused AdamW (CPU too), except on sharded CPU tensors
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.stages[0].lr.peak, betas=cfg.betas, fused=fused, foreach=None if fused else True)
    return model, optimizer


def stage_inputs(stage: StageConfig, index: MixtureIndex, tokens: str) -> dict:
    """What a stage trains on, for summary.json: the tokenize output and the mixture file (null when
    the mixture is inline: config.json holds it), each with the sha256 of its bytes."""
    inline = isinstance(stage.mixture, MixtureConfig)
    return {"stage": stage.name, "tokens": {"path": tokens, "meta_sha256": file_sha256(Path(tokens) / "meta.json")},
            "mixture": None if inline else {"path": stage.mixture, "sha256": file_sha256(stage.mixture)},
            "weights": dict(zip(index.sources, index.weights.tolist()))}


def train(cfg: TrainConfig) -> TrainResult:
    warnings.filterwarnings("ignore", message="torch.distributed is disabled")  # DCP in one process
    rank, world, device = setup_distributed(cfg.device)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(cfg.model_dump_json(indent=1))

    mixtures = [resolve_mixture(s) for s in cfg.stages]
    metas = [read_meta(m.tokens) for m in mixtures]
    tokenizers = {(Path(m.tokens) / "tokenizer" / "tokenizer.json").read_bytes() for m in mixtures}
    if len(tokenizers) > 1:
        raise ConfigError(["stages: every stage's token shards must come from the same tokenizer"])
    mcfg = model_config(cfg.model.size, **cfg.model.model_dump(exclude={"size"}), vocab_size=metas[0]["vocab_size"])
    global_batch = cfg.micro_batch * cfg.grad_accum * world
    stage_steps = [s.tokens // (global_batch * cfg.seq_len) for s in cfg.stages]
    if min(stage_steps) == 0:
        raise ConfigError([f"stages: a stage's tokens are fewer than one step's {global_batch * cfg.seq_len:,} "
                           f"(micro_batch x grad_accum x ranks x seq_len)"])
    indexes = [MixtureIndex(m, cfg.seq_len, n * global_batch) for m, n in zip(mixtures, stage_steps)]
    loaders = [MixtureLoader(ix, cfg.micro_batch, cfg.grad_accum, rank, world) for ix in indexes]
    inputs = [stage_inputs(s, ix, m.tokens) for s, ix, m in zip(cfg.stages, indexes, mixtures)]

    bf16 = use_bf16(cfg.precision, device, mcfg.dim)
    model, optimizer = build(mcfg, cfg, device, bf16)

    fingerprints = [ix.fingerprint for ix in indexes]
    state = {"step": 0, "tokens_by_source": {}, "fingerprints": fingerprints, "model": mcfg.to_dict()}
    last = checkpoint.latest(out / "checkpoints")
    if last is not None:
        saved = checkpoint.load(last, model, optimizer)
        if saved["fingerprints"] != fingerprints or saved["model"] != mcfg.to_dict():
            raise ConfigError([f"out: {last} was made with other mixtures or another model; use a new `out`"])
        state = saved
        if rank == 0:
            print(f"resuming from {last} at step {state['step']}", flush=True)
    metrics = Metrics(out / "metrics.jsonl", rank, cfg.log_every, state["step"])
    if rank == 0:
        for stage, ix, steps in zip(cfg.stages, indexes, stage_steps):
            plan = {s: {k: round(v, 4) for k, v in p.items()} for s, p in ix.plan().items()}
            print(f"stage {stage.name}: {steps} steps of {global_batch} x {cfg.seq_len} tokens; per source: "
                  + json.dumps(plan), flush=True)
        print(f"model: {model.num_params() / 1e6:.1f}M parameters ({mcfg.n_layers} layers, dim {mcfg.dim}, "
              f"vocab {mcfg.vocab_size}) on {world} x {device.type}, kernels {model.kernels.name}, "
              f"{'bf16' if bf16 else 'fp32'}", flush=True)

    flops_token = flops_per_token(mcfg, cfg.seq_len, count_embedding=True)
    total_steps = sum(stage_steps)
    step, loss_value, val = state["step"], state.get("loss", float("nan")), {}  # a finished run: its last loss
    stage_start = 0
    for stage, loader, mixture, meta, steps in zip(cfg.stages, loaders, mixtures, metas, stage_steps):
        stage_end = stage_start + steps
        sources = loader.index.sources
        val_sources = [s for s, m in meta["sources"].items() if m["val"]["tokens"]]
        # Loss and grad norm stay on the device until a step that logs, evaluates or saves: one host
        # sync (and one all-reduce) per flush instead of per step, so the GPU never waits on Python.
        pending, counts, since = [], np.zeros(len(sources), dtype=np.int64), time.perf_counter()
        while step < stage_end:
            local = step - stage_start
            lr = lr_at(stage.lr, local, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                x, y, src = loader.batch(local, micro)
                counts += np.bincount(src, minlength=len(sources))
                loss = model(x.to(device, non_blocking=True), y.to(device, non_blocking=True)) / cfg.grad_accum
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
            grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            pending.append((step, lr, torch.stack([loss_sum, grad_norm.to(loss_sum)])))
            evaluate_now = (cfg.eval.every and step % cfg.eval.every == 0) or step == stage_end
            save_now = (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or step == total_steps
            if not (evaluate_now or save_now or step % cfg.log_every == 0):
                continue
            reduced = all_mean(torch.stack([v for _, _, v in pending])).tolist()
            if dist.is_initialized():  # on the device: NCCL reduces no CPU tensors
                c = torch.from_numpy(counts).to(device)
                dist.all_reduce(c)
                counts = c.cpu().numpy()
            seen = state["tokens_by_source"]
            for s, n in zip(sources, counts):
                seen[s] = seen.get(s, 0) + int(n) * cfg.seq_len
            dt = (time.perf_counter() - since) / len(pending)  # per step, averaged since the last flush
            for (at, at_lr, _), (loss_value, norm_value) in zip(pending, reduced):
                row = {"step": at, "stage": stage.name, "loss": loss_value, "lr": at_lr, "grad_norm": norm_value,
                       "tokens": at * global_batch * cfg.seq_len, "tokens_per_s": global_batch * cfg.seq_len / dt,
                       "mfu_flops_per_s": flops_token * global_batch * cfg.seq_len / dt}
                metrics.write(row)
                metrics.progress(row, total_steps)
            pending, counts = [], np.zeros(len(sources), dtype=np.int64)
            if evaluate_now:
                val = evaluate(model, mixture.tokens, meta, val_sources, cfg, rank, world, device)
                metrics.write({"step": step, "stage": stage.name, "val": val})
                if rank == 0:
                    print(f"[{stage.name}] step {step} val " + " ".join(
                        f"{s}={v['loss']:.3f}" for s, v in val.items()), flush=True)
            state["step"], state["loss"] = step, loss_value
            if save_now:
                checkpoint.save(out / "checkpoints", step, model, optimizer, state, cfg.checkpoint.keep)
            since = time.perf_counter()
        stage_start = stage_end

    if cfg.export:
        from .export import export_hf
        export_hf(model, mcfg, Path(mixtures[-1].tokens) / "tokenizer", out / "hf", cfg.seq_len)
    if not val:  # resumed after the last step: report the final validation loss anyway
        val = evaluate(model, mixtures[-1].tokens, metas[-1], list(metas[-1]["sources"]), cfg, rank, world, device)
    if rank == 0:
        train_tokens = {s: m["train"]["tokens"] for s, m in metas[0]["sources"].items()}
        summary = {"steps": step, "tokens": step * global_batch * cfg.seq_len, "val": val,
                   "tokens_by_source": state["tokens_by_source"],
                   "epochs_by_source": {s: round(n / max(1, train_tokens.get(s, 0)), 4)
                                        for s, n in state["tokens_by_source"].items()},
                   "mixture_fingerprints": dict(zip([s.name for s in cfg.stages], fingerprints)),
                   "inputs": inputs}
        write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    return TrainResult(steps=step, tokens=step * global_batch * cfg.seq_len,
                       flops=flops_token * step * global_batch * cfg.seq_len, final_loss=loss_value, val=val,
                       tokens_by_source=dict(state["tokens_by_source"]), out=str(out))
