"""The only place that wraps the model and decides its precision: mixed precision, activation
checkpointing, torch.compile, FSDP2.

Applied in this order, per transformer block (as torchtitan does):
1. activation checkpointing, so the recompute happens inside the compiled region;
2. torch.compile per block: blocks are identical, so one compilation serves all of them, and
   graph breaks stay contained;
3. fully_shard per block, then the root, so each block's parameters are gathered just before it
   runs and freed after, overlapping communication with the previous block's compute. With one rank
   there is nothing to shard: blocks keep their (bf16) parameters after forward
   (`reshard_after_forward=False`), so backward does not re-gather every block for nothing.

Which precision a run trains in is decided here too (`use_bf16`, for `precision: auto`), and
reached from outside through train/api.py `resolved_precision`. bf16 on GPU is FSDP's: parameters
gathered in bf16, gradients reduced in fp32. bf16 on CPU is autocast around the forward (fp32
parameters, bf16 matmuls), which gloo-sharded runs share.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper


def use_bf16(precision: str, device: torch.device, dim: int) -> bool:
    """`precision: auto` means bf16 on GPU, and on CPUs with bf16 matrix instructions (AVX512-BF16 or
    AMX) for models of width 256 and more; without those instructions bf16 is emulated, and below that
    width autocast's casts cost more than the matmuls save (measured on CPU: dim 256 trains 1.6x
    faster in bf16, dim 64 0.86x)."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (cpu_multiplies_bf16() and dim >= 256)


@functools.cache
def cpu_multiplies_bf16() -> bool:
    try:
        return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", Path("/proc/cpuinfo").read_text()))
    except OSError:
        return False


def apply_activation_checkpointing(model: nn.Module) -> None:
    for i, block in enumerate(model.model.layers):
        model.model.layers[i] = checkpoint_wrapper(block, preserve_rng_state=False)


def apply_compile(model: nn.Module) -> None:
    for block in model.model.layers:
        block.compile()  # in place: parameter names stay those of the plain model


def apply_fsdp(model: nn.Module, param_dtype: torch.dtype) -> None:
    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    reshard = dist.get_world_size() > 1  # one GPU: gathering again in backward only costs time
    for block in model.model.layers:
        fully_shard(block, mp_policy=mp, reshard_after_forward=reshard)
    fully_shard(model, mp_policy=mp, reshard_after_forward=reshard)


def parallelize(model: nn.Module, *, activation_checkpointing: bool, compile: bool, shard: bool, bf16: bool) -> nn.Module:
    on_gpu = next(model.parameters()).device.type == "cuda"
    if bf16 and not on_gpu:
        model.autocast_dtype = torch.bfloat16
    if activation_checkpointing:
        apply_activation_checkpointing(model)
    if compile:
        apply_compile(model)
    if shard:
        apply_fsdp(model, torch.bfloat16 if bf16 and on_gpu else torch.float32)
    return model
