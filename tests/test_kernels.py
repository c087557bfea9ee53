"""train/kernels.py: the torch path against transformers and plain cross-entropy; Liger's Triton kernels
against the torch path, run on CPU under Triton's interpreter in a subprocess (tests/liger_interpret.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train.kernels import (
    chunked_linear_cross_entropy,
    fused_linear_cross_entropy,
    get_kernels,
    plain_linear_cross_entropy,
    rms_norm,
    rope,
    swiglu,
)

ROOT = Path(__file__).resolve().parent.parent


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return torch.allclose(a, b, rtol=tol, atol=tol * b.abs().max().item())


# ---- torch path ----------------------------------------------------------------------------------


def test_torch_ops_match_transformers_llama():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm, apply_rotary_pos_emb

    torch.manual_seed(0)
    x = torch.randn(2, 8, 64, dtype=torch.bfloat16)
    norm = LlamaRMSNorm(64, eps=1e-5)
    torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    assert torch.equal(rms_norm(x, norm.weight, 1e-5), norm(x))

    q, k = torch.randn(2, 4, 8, 16), torch.randn(2, 2, 8, 16)
    angles = torch.rand(1, 8, 8) * 6.28
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    for got, want in zip(rope(q, k, cos, sin), apply_rotary_pos_emb(q, k, cos, sin)):
        assert torch.equal(got, want)

    gate, up = torch.randn(4, 32), torch.randn(4, 32)
    assert torch.equal(swiglu(gate, up), torch.nn.functional.silu(gate) * up)


def loss_and_grads(fn, hidden, weight, targets):
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = fn(h, w, targets)
    loss.backward()
    return loss.detach(), h.grad, w.grad


@pytest.mark.parametrize("loss", [chunked_linear_cross_entropy, fused_linear_cross_entropy])
@pytest.mark.parametrize("chunk_rows", [7, 64, None])
def test_chunked_cross_entropy_matches_plain(loss, chunk_rows):
    torch.manual_seed(0)
    hidden, weight = torch.randn(50, 24), torch.randn(300, 24) * 0.3
    targets = torch.randint(0, 300, (50,))
    targets[::4] = -100
    got = loss_and_grads(lambda h, w, t: loss(h, w, t, chunk_rows=chunk_rows), hidden, weight, targets)
    want = loss_and_grads(plain_linear_cross_entropy, hidden, weight, targets)
    for g, w in zip(got, want):
        assert close(g, w)


def test_fused_cross_entropy_scales_with_the_incoming_gradient_and_keeps_no_logits():
    torch.manual_seed(0)
    hidden, weight, targets = torch.randn(40, 16), torch.randn(200, 16) * 0.3, torch.randint(0, 200, (40,))
    got = loss_and_grads(lambda h, w, t: 3.0 * fused_linear_cross_entropy(h, w, t, chunk_rows=8), hidden, weight, targets)
    want = loss_and_grads(lambda h, w, t: 3.0 * plain_linear_cross_entropy(h, w, t), hidden, weight, targets)
    for g, w in zip(got, want):
        assert close(g, w)
    saved = []
    h = hidden.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        fused_linear_cross_entropy(h, weight.requires_grad_(), targets, chunk_rows=8).backward()
    assert saved and max(s.numel() for s in saved) <= 200 * 16  # gradients of weight and hidden, no logits


def test_fused_cross_entropy_compiled_and_under_bf16_autocast():
    """The compiled one-pass softmax step equals the eager one; under CPU bf16 autocast (what
    `precision: bf16` runs) the fused loss matches plain autocast cross-entropy within bf16 tolerance."""
    torch.manual_seed(0)
    hidden, weight = torch.randn(96, 32), torch.randn(500, 32) * 0.3
    targets = torch.randint(0, 500, (96,))
    targets[::5] = -100
    eager = loss_and_grads(lambda h, w, t: fused_linear_cross_entropy(h, w, t, chunk_rows=40), hidden, weight, targets)
    compiled = loss_and_grads(lambda h, w, t: fused_linear_cross_entropy(h, w, t, chunk_rows=40, compile=True),
                              hidden, weight, targets)
    for g, w in zip(compiled, eager):
        assert close(g, w)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_and_grads(lambda h, w, t: fused_linear_cross_entropy(h, w, t, chunk_rows=40), hidden, weight, targets)
        want = loss_and_grads(plain_linear_cross_entropy, hidden, weight, targets)
    assert got[1].dtype == got[2].dtype == torch.float32  # gradients in the parameters' dtype
    for g, w in zip(got, want):
        assert close(g, w.float(), tol=2e-2)  # bf16 has 8 bits of mantissa
    assert not close(got[1], eager[1], tol=1e-5)  # and the matmuls did run in bf16


def test_chunked_cross_entropy_never_saves_full_logits():
    """Only per-chunk work is recomputed in backward: nothing of size rows x vocab is kept from forward."""
    hidden = torch.randn(64, 16, requires_grad=True)
    weight = torch.randn(512, 16, requires_grad=True)
    targets = torch.randint(0, 512, (64,))
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    def largest_saved(fn):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(hidden, weight, targets).backward()
        return max(saved)

    assert largest_saved(plain_linear_cross_entropy) >= 64 * 512
    assert largest_saved(lambda h, w, t: chunked_linear_cross_entropy(h, w, t, chunk_rows=16)) <= 512 * 16


def test_chunked_cross_entropy_edge_cases():
    hidden, weight = torch.randn(10, 8, requires_grad=True), torch.randn(30, 8)
    ignored = torch.full((10,), -100)
    loss = chunked_linear_cross_entropy(hidden, weight, ignored)
    loss.backward()
    assert loss.item() == 0.0 and not hidden.grad.any()
    targets = torch.randint(0, 30, (10,))
    with torch.no_grad():
        assert close(chunked_linear_cross_entropy(hidden, weight, targets, chunk_rows=3),
                     plain_linear_cross_entropy(hidden, weight, targets))


def test_get_kernels_choices(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert get_kernels("torch").name == "torch"
    assert get_kernels("auto", device="cpu").name == "torch"
    with pytest.raises(ValueError, match="auto"):
        get_kernels("triton")
    if not torch.cuda.is_available():
        assert get_kernels("auto").name == "torch"
        with pytest.raises(RuntimeError, match="no CUDA device"):
            get_kernels("liger")


# ---- liger path, under Triton's interpreter --------------------------------------------------------


@pytest.fixture(scope="module")
def liger_report() -> dict:
    if importlib.util.find_spec("liger_kernel") is None:
        pytest.skip("liger-kernel is not installed")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-m", "tests.liger_interpret"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# op -> (the Triton kernels that must have run, tolerance on relative error in fp32)
LIGER_OPS = {
    "rms_norm": ({"_rms_norm_forward_kernel", "_rms_norm_backward_kernel"}, 1e-5),
    "swiglu": ({"_swiglu_forward_kernel", "_swiglu_backward_kernel"}, 1e-5),
    "rope": ({"_triton_rope"}, 1e-6),
    "rope_batch_tables": ({"_triton_rope"}, 1e-6),
    "linear_cross_entropy": ({"liger_cross_entropy_kernel"}, 1e-5),
}


@pytest.mark.parametrize("op", LIGER_OPS)
def test_liger_matches_torch(liger_report, op):
    kernels, tol = LIGER_OPS[op]
    result = liger_report[op]
    assert liger_report["name"] == "liger"
    assert kernels <= set(result["launches"]), f"Triton kernels did not run: {result['launches']}"
    assert not result["missing_grads"]
    assert result["forward"] < tol
    assert all(err < tol for err in result["grads"].values()), result["grads"]


def test_liger_cross_entropy_runs_in_chunks(liger_report):
    """48 rows, hidden 32, vocab 200: Liger splits the rows into several chunks (one launch each), so the
    comparison above covers its accumulation of gradients across chunks."""
    assert liger_report["linear_cross_entropy"]["launches"]["liger_cross_entropy_kernel"] > 1


# ---- on a CUDA GPU only (skipped elsewhere): the recipe's Liger ops inside torch.compile'd blocks -----


@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("liger_kernel") is None,
                    reason="needs a CUDA GPU and liger-kernel")
def test_liger_in_compiled_blocks_matches_eager_on_cuda():
    """Liger's RMSNorm, SwiGLU and in-place RoPE inside torch.compile'd blocks (train/parallelize.py) give the
    eager loss and gradients in bf16, and Liger's eager path gives the torch path's. The first thing to run on
    a GPU: no CPU test exercises compile tracing Triton autograd Functions (under TRITON_INTERPRET, dynamo
    only graph-breaks around them)."""
    from train.model import Transformer, model_config
    from train.parallelize import apply_compile

    cfg = model_config("small", vocab_size=4096)
    tokens = torch.randint(0, cfg.vocab_size, (4, 257), generator=torch.Generator().manual_seed(0)).cuda()

    def run(kernels: str, compile_: bool):
        torch.manual_seed(0)
        model = Transformer(cfg, get_kernels(kernels))
        model.init_weights(0)
        model.to("cuda", torch.bfloat16)
        if compile_:
            apply_compile(model)
        loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        return loss.item(), {n: p.grad.float() for n, p in model.named_parameters()}

    def worst(a, b) -> float:
        return max(((a[n] - b[n]).abs().max() / b[n].abs().max()).item() for n in b)

    eager, compiled, plain = run("liger", False), run("liger", True), run("torch", False)
    assert abs(compiled[0] - eager[0]) < 1e-2 * eager[0] and abs(eager[0] - plain[0]) < 2e-2 * plain[0]
    assert worst(compiled[1], eager[1]) < 5e-2, worst(compiled[1], eager[1])
    assert worst(eager[1], plain[1]) < 1e-1, worst(eager[1], plain[1])
