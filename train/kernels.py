"""The model's elementwise ops and its loss, in plain torch or as Liger-Kernel's fused Triton kernels.

`get_kernels(config.kernels)` returns one `Kernels` object; the model calls `k.rms_norm`, `k.swiglu`,
`k.rope` and `k.linear_cross_entropy` and never imports torch-vs-Liger code itself.

- "torch": transformers' Llama maths, with a chunked output-layer loss whose chunks are recomputed in
  backward, so the (rows x vocab) logits are never held at once.
- "liger": Liger's RMSNorm, SwiGLU, RoPE and fused linear cross-entropy (FLCE). These kernels need a
  CUDA GPU, or Triton's CPU interpreter (`TRITON_INTERPRET=1` set before triton is imported; tests).
- "liger-loss": Liger's fused linear cross-entropy only; RMSNorm, SwiGLU and RoPE in torch, so the
  compiled blocks hold torch ops that inductor fuses itself. Liger's RMSNorm is known to misbehave under
  torch.compile elsewhere (transformers marks Liger's integration not compile-friendly); the loss sits
  outside the compiled blocks in this model.
- "auto": "liger" when CUDA is available (and `device`, if given, is a CUDA device) and liger_kernel
  imports; "torch" otherwise.

The environment variable GRISTMILL_KERNELS (one of the choices) overrides the config's `kernels`, so a
benchmark or a lent GPU session can switch a run without editing its YAML.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CHOICES = ("auto", "torch", "liger", "liger-loss")
ENV = "GRISTMILL_KERNELS"
# Rows per loss chunk: 256, or fewer where that would exceed 2**23 logits (32 MiB in fp32). Measured on a
# 2-core CPU (forward + backward of 2,048 rows): at vocab 32k, 256 rows beat 64, 128, 512 and 1,048; at vocab
# 8k, 256 rows beat 1,024 by 1.2x in fp32 and 2x in bf16 (a larger chunk no longer stays in cache).
CHUNK_ROWS, CHUNK_LOGITS = 256, 2**23


def _chunk_rows(vocab: int) -> int:
    return max(1, min(CHUNK_ROWS, CHUNK_LOGITS // vocab))


@dataclass(frozen=True)
class Kernels:
    name: str  # "torch" | "liger" | "liger-loss"
    rms_norm: Callable[[Tensor, Tensor, float], Tensor]
    swiglu: Callable[[Tensor, Tensor], Tensor]
    rope: Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
    linear_cross_entropy: Callable[..., Tensor]  # (hidden, weight, targets, ignore_index=-100)


# ---- torch ---------------------------------------------------------------------------------------


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """transformers' LlamaRMSNorm: normalise in fp32, cast back, then scale."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def swiglu(gate: Tensor, up: Tensor) -> Tensor:
    return F.silu(gate) * up


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """q, k: (batch, heads, seq, head_dim); cos, sin: (1 or batch, seq, head_dim), rotate-half layout."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


def _ce_sum(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int) -> Tensor:
    logits = (hidden @ weight.T).float()
    return F.cross_entropy(logits, targets, ignore_index=ignore_index, reduction="sum")


@functools.cache
def _compiled_ce_sum() -> Callable[..., Tensor]:
    # Compile the per-chunk step only: compiling the whole chunked loop frees nothing (ENVIRONMENT.md).
    return torch.compile(_ce_sum)


def chunked_linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int = -100,
                                 chunk_rows: int | None = None, compile: bool = False) -> Tensor:
    """Mean CE(hidden @ weight.T, targets) over non-ignored rows, one checkpointed chunk of rows at a time.

    Each chunk's logits are freed after its forward and recomputed in backward, so peak memory holds one
    chunk of logits, not all of them. A batch whose targets are all `ignore_index` gives 0, not NaN.
    """
    rows = chunk_rows or _chunk_rows(weight.shape[0])
    step = _compiled_ce_sum() if compile else _ce_sum
    if rows >= len(hidden):  # one chunk: recomputing it in backward would save nothing
        return step(hidden, weight, targets, ignore_index) / (targets != ignore_index).sum().clamp(min=1)
    total = sum(checkpoint(step, h, weight, t, ignore_index, use_reentrant=False)
                for h, t in zip(hidden.split(rows), targets.split(rows)))
    return total / (targets != ignore_index).sum().clamp(min=1)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """Liger's FLCE algorithm in plain torch: chunk by chunk, the forward computes the loss and, at once,
    the gradients of hidden and weight (softmax minus one-hot), so no logits outlive their chunk, the
    softmax is computed once, and backward only scales the stored gradients."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, ignore_index, rows, compile):
        # Under autocast (bf16 on CPU) the matmuls run in the autocast dtype, explicitly: autocast does not
        # reach in-place ops, and the weight gradient is accumulated in fp32 across chunks either way.
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
        with torch.autocast(device, enabled=False):
            loss, grad_hidden, grad_weight = _loss_and_grads(hidden, weight.to(dtype), targets, ignore_index, rows,
                                                             compile)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None, None, None


def _softmax_grad(logits: Tensor, targets: Tensor, scale: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For rows of logits: (sum of scale x CE, G, f) where the gradient of that sum is G x f[:, None]:
    G = exp(logits - max) - one-hot x sum(exp), f = scale / sum(exp). In fp32 whatever the logits' dtype,
    G returned in the logits' dtype. In place on fp32 logits (four passes over them: max, subtract, exp,
    sum); the caller applies f to the small matmul operands, not to the logits."""
    x = logits.float()
    picked = x.gather(1, targets[:, None])[:, 0]
    top = x.amax(dim=-1)
    total = x.sub_(top[:, None]).exp_().sum(dim=-1)
    loss = ((top + total.log() - picked) * scale).sum()
    x[torch.arange(len(targets), device=x.device), targets] -= total
    return loss, x.to(logits.dtype), scale / total


@functools.cache
def _compiled_softmax_grad() -> Callable[..., tuple[Tensor, Tensor, Tensor]]:
    return torch.compile(_softmax_grad)


def _loss_and_grads(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int, rows: int,
                    compile: bool):
    """(mean loss, its gradient wrt hidden, wrt weight in fp32), one chunk of `rows` logits at a time."""
    valid = targets != ignore_index
    scale = valid / valid.sum().clamp(min=1)
    softmax_grad = _compiled_softmax_grad() if compile else _softmax_grad
    grad_hidden = torch.empty_like(hidden)
    grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
    loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
    # One buffer for every chunk's logits: a fresh one per chunk can cost more in page faults than the
    # softmax (glibc maps allocations of 32 MiB and more afresh each time).
    buffer = torch.empty((min(rows, len(hidden)), weight.shape[0]), dtype=weight.dtype, device=weight.device)
    for start in range(0, len(hidden), rows):
        end = start + rows
        h = hidden[start:end].to(weight.dtype)
        logits = torch.mm(h, weight.T, out=buffer[:len(h)])
        chunk_loss, grad_logits, factor = softmax_grad(logits, targets[start:end].clamp(min=0), scale[start:end])
        loss += chunk_loss
        grad_hidden[start:end] = (grad_logits @ weight).mul_(factor[:, None])
        h = h * factor[:, None].to(h.dtype)
        if weight.dtype == torch.float32:
            grad_weight.addmm_(grad_logits.T, h)
        else:
            grad_weight += grad_logits.T @ h
    return loss, grad_hidden, grad_weight


def fused_linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int = -100,
                               chunk_rows: int | None = None, compile: bool = False) -> Tensor:
    """Mean CE(hidden @ weight.T, targets) over non-ignored rows, gradients computed in the forward.
    Same matmuls as the plain loss, one softmax instead of two passes, memory of one chunk of logits.
    `compile`: torch.compile the per-chunk softmax and gradient into one pass (first call ~10 s on CPU)."""
    if not (torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)):
        with torch.no_grad():
            return chunked_linear_cross_entropy(hidden, weight, targets, ignore_index, chunk_rows)
    rows = chunk_rows or _chunk_rows(weight.shape[0])
    return _FusedLinearCrossEntropy.apply(hidden, weight, targets, ignore_index, rows, compile)


def plain_linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """The unfused reference: full logits, then F.cross_entropy (for tests and benchmarks)."""
    return F.cross_entropy((hidden @ weight.T).float(), targets, ignore_index=ignore_index)


def torch_kernels(compile_loss: bool = False) -> Kernels:
    return Kernels("torch", rms_norm, swiglu, rope, functools.partial(fused_linear_cross_entropy, compile=compile_loss))


# ---- liger ---------------------------------------------------------------------------------------


def _liger_usable() -> str | None:
    """None when Liger's kernels can run here, else the reason they cannot."""
    if not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"):
        return "no CUDA device (set TRITON_INTERPRET=1 before importing triton to run its kernels on CPU)"
    try:
        import liger_kernel.transformers.functional  # noqa: F401
    except ImportError as e:
        return f"liger_kernel does not import ({e}); install liger-kernel (and packaging)"
    return None


def liger_kernels(loss_only: bool = False) -> Kernels:
    """Liger's functional ops (only its fused linear cross-entropy with `loss_only`, torch's ops for the
    rest); raises RuntimeError where they cannot run."""
    reason = _liger_usable()
    if reason:
        raise RuntimeError(f"kernels: liger needs Triton on a GPU: {reason}. Use kernels: torch or auto.")
    from liger_kernel.transformers import functional as lf

    def liger_rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
        # in_place=False: Liger's default writes dX into the incoming gradient buffer.
        return lf.liger_rms_norm(x, weight, eps, casting_mode="llama", in_place=False)

    def liger_rope(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
        # Rotates in place when q/k are transposed views of contiguous (batch, seq, heads, dim)
        # projections, as in the model: use the returned tensors, not the arguments.
        return lf.liger_rope(q, k, cos, sin)

    def linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        # fp32 accumulation of the weight gradient across chunks, whatever the parameter dtype.
        return lf.liger_fused_linear_cross_entropy(hidden, weight, targets, ignore_index=ignore_index,
                                                   accum_dtype=torch.float32)

    if loss_only:
        return Kernels("liger-loss", rms_norm, swiglu, rope, linear_cross_entropy)
    return Kernels("liger", liger_rms_norm, lf.liger_swiglu, liger_rope, linear_cross_entropy)


def get_kernels(choice: str = "auto", device: str | torch.device | None = None,
                compile_loss: bool = False) -> Kernels:
    """The kernels for config value `kernels: auto|torch|liger|liger-loss`, or for $GRISTMILL_KERNELS
    where it is set (it wins over the config).

    `device`: where the model runs; "auto" picks torch for a non-CUDA device even when CUDA exists.
    `compile_loss`: torch.compile the torch loss's per-chunk softmax and gradient into one pass.
    """
    choice = os.environ.get(ENV) or choice
    if choice not in CHOICES:
        raise ValueError(f"kernels must be one of {CHOICES}, got {choice!r}")
    if choice == "auto":
        on_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        choice = "liger" if on_cuda and _liger_usable() is None else "torch"
    if choice == "torch":
        return torch_kernels(compile_loss)
    return liger_kernels(loss_only=choice == "liger-loss")
