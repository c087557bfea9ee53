"""Liger's kernels against the torch path on CPU, under Triton's interpreter; run in a subprocess.

`python -m tests.liger_interpret` sets TRITON_INTERPRET=1 before triton is imported, installs a small
shim for two interpreter gaps, runs each Liger op and its torch twin forward and backward, and prints
one JSON object: per op, the largest relative error of the output and of each gradient, and how many
times each Triton kernel was launched (so a silent torch fallback shows up as no launches).
tests/test_kernels.py runs it and asserts on the result; the rest of the suite never sees the interpreter.
"""

from __future__ import annotations

import json
import os
from collections import Counter

os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton.language as tl  # noqa: E402
from triton.runtime import interpreter  # noqa: E402

LAUNCHES: Counter[str] = Counter()


def install_shim() -> None:
    """Patch the two interpreter gaps Liger's RMSNorm and SwiGLU hit, and count kernel launches.

    1. Float scalar kernel arguments reach the kernel as Python floats, so `eps.to(tl.float32)` fails;
       compiled Triton passes them as fp32 scalars, so wrap them as fp32 tensors.
    2. `triton.language.extra.libdevice` functions are stubs returning None under the interpreter;
       point Liger's `rsqrt` at `tl.math.rsqrt`. (Its `tanh` is only used with logit soft-capping,
       which gristmill does not use.)
    """
    to_tensor = interpreter._implicit_cvt

    def implicit_cvt(arg):
        if isinstance(arg, float):
            return tl.tensor(interpreter.TensorHandle(np.array([arg], np.float32), tl.float32), tl.float32)
        return to_tensor(arg)

    interpreter._implicit_cvt = implicit_cvt

    import liger_kernel.ops.rms_norm as liger_rms_norm

    liger_rms_norm.rsqrt = lambda x: tl.math.rsqrt(x)  # looked up late: the interpreter patches tl.math per launch

    run = interpreter.InterpretedFunction.run

    def counted_run(self, *args, **kwargs):
        LAUNCHES[self.fn.__name__] += 1
        return run(self, *args, **kwargs)

    interpreter.InterpretedFunction.run = counted_run


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).abs().max() / want.abs().max().clamp(min=1e-12)).item()


def compare(fn_liger, fn_torch, inputs: dict[str, torch.Tensor], no_grad: tuple[str, ...] = ()) -> dict:
    """Run both on fresh leaf copies; backprop a fixed random cotangent; compare outputs and grads."""
    results = {}
    for name, fn in (("liger", fn_liger), ("torch", fn_torch)):
        leaves = {k: v.clone().requires_grad_(k not in no_grad and v.is_floating_point()) for k, v in inputs.items()}
        LAUNCHES.clear()
        out = fn(*leaves.values())
        outs = out if isinstance(out, tuple) else (out,)
        gen = torch.Generator().manual_seed(1)
        sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs).backward()
        grads = {k: v.grad for k, v in leaves.items() if v.grad is not None}
        results[name] = ([o.detach() for o in outs], grads, dict(LAUNCHES))
    (lo, lg, launches), (to, tg, _) = results["liger"], results["torch"]
    return {
        "forward": max(rel_err(a, b) for a, b in zip(lo, to)),
        "grads": {k: rel_err(lg[k], tg[k]) for k in tg},
        "missing_grads": sorted(set(tg) - set(lg)),
        "launches": launches,
    }


def main() -> None:
    install_shim()
    from train.kernels import get_kernels, torch_kernels

    lk, tk = get_kernels("liger"), torch_kernels()
    torch.manual_seed(0)
    seq, head_dim = 8, 16
    angles = torch.rand(2, seq, head_dim // 2) * 6.28
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    targets = torch.randint(0, 200, (48,))
    targets[::5] = -100
    report = {
        "name": lk.name,
        "rms_norm": compare(lambda x, w: lk.rms_norm(x, w, 1e-5), lambda x, w: tk.rms_norm(x, w, 1e-5),
                            {"x": torch.randn(2, 8, 64) * 3, "w": torch.rand(64) + 0.5}),
        "swiglu": compare(lk.swiglu, tk.swiglu, {"gate": torch.randn(2, 8, 96), "up": torch.randn(2, 8, 96)}),
        # q, k as the model builds them: transposed views of (batch, seq, heads, dim) projections.
        "rope": compare(lk.rope, tk.rope, {"q": torch.randn(2, seq, 4, head_dim).transpose(1, 2),
                                           "k": torch.randn(2, seq, 2, head_dim).transpose(1, 2),
                                           "cos": cos[:1], "sin": sin[:1]}, no_grad=("cos", "sin")),
        "rope_batch_tables": compare(lk.rope, tk.rope, {"q": torch.randn(2, 4, seq, head_dim),
                                                        "k": torch.randn(2, 2, seq, head_dim),
                                                        "cos": cos, "sin": sin}, no_grad=("cos", "sin")),
        "linear_cross_entropy": compare(lk.linear_cross_entropy, tk.linear_cross_entropy,
                                        {"hidden": torch.randn(48, 32), "weight": torch.randn(200, 32) * 0.3,
                                         "targets": targets}),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
