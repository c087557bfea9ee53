"""Kernel figures for train/kernels.py: the output-layer loss's memory and time, and Liger's accuracy.

CPU (always): the torch path's linear cross-entropy variants (chunked with recompute, eager and with
the per-chunk step compiled; fused with gradients in the forward, eager and with its softmax and
gradient compiled into one pass) against plain full-logits F.cross_entropy, forward + backward, in
fp32 and under bf16 autocast: peak extra resident memory (sampled from /proc, over the RSS before the
step; includes the hidden and weight gradients) and median time.

GPU (only where CUDA is available): Liger's fused linear cross-entropy against the compiled chunked
loss and plain cross-entropy (peak extra CUDA memory, median time), in bf16; then every Liger op against
its torch twin in bf16: largest relative error of output and gradients (with the torch op's own bf16
error against fp32 for scale) and forward + backward time.

Run: .venv/bin/python benchmarks/kernels_cpu.py [--rows 4096 --hidden 512 --vocab 32000]
     python3 benchmarks/kernels_cpu.py --gpu-only   # the GPU sections alone: no CPU timing, no C++ compile
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from train.kernels import (  # noqa: E402
    chunked_linear_cross_entropy,
    fused_linear_cross_entropy,
    get_kernels,
    plain_linear_cross_entropy,
    torch_kernels,
)

MiB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Highest resident memory above the starting point while the block runs, sampled every 0.5 ms."""

    def __enter__(self):
        self.base = self.peak = rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.0005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, rss())
        self.extra_mib = (self.peak - self.base) / MiB


def loss_step(loss_fn, hidden, weight, targets, sync=lambda: None) -> float:
    """One forward + backward on fresh gradients; returns seconds."""
    hidden.grad = weight.grad = None
    sync()
    t0 = time.perf_counter()
    loss_fn(hidden, weight, targets).backward()
    sync()
    return time.perf_counter() - t0


def make_batch(rows, hidden_dim, vocab, device="cpu", dtype=torch.float32):
    gen = torch.Generator(device).manual_seed(0)
    hidden = torch.randn(rows, hidden_dim, generator=gen, device=device, dtype=dtype).requires_grad_()
    weight = (torch.randn(vocab, hidden_dim, generator=gen, device=device, dtype=dtype) * 0.02).requires_grad_()
    targets = torch.randint(0, vocab, (rows,), generator=gen, device=device)
    targets[::10] = -100
    return hidden, weight, targets


def cpu_section(rows, hidden_dim, vocab, repeats, precision):
    print(f"== CPU: linear cross-entropy, N={rows} H={hidden_dim} V={vocab}, {precision}, forward + backward "
          f"(gradients alone: {(rows + vocab) * hidden_dim * 4 / MiB:.0f} MiB)")
    batch = make_batch(rows, hidden_dim, vocab)
    want = plain_linear_cross_entropy(*batch).item()
    variants = {
        "plain F.cross_entropy (full logits)": plain_linear_cross_entropy,
        "chunked, eager": chunked_linear_cross_entropy,
        "chunked, per-chunk step compiled": lambda h, w, t: chunked_linear_cross_entropy(h, w, t, compile=True),
        "fused (gradients in forward)": fused_linear_cross_entropy,
        "fused, softmax + gradient compiled": functools.partial(fused_linear_cross_entropy, compile=True),
    }
    print(f"{'variant':40} {'peak extra MiB':>15} {'median s':>9}  loss")
    for name, plain_fn in variants.items():
        def fn(*args, plain_fn=plain_fn):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                return plain_fn(*args)

        loss_step(fn, *batch)  # warm-up (and compilation)
        with PeakRSS() as mem:
            loss_step(fn, *batch)
        seconds = statistics.median(loss_step(fn, *batch) for _ in range(repeats))
        loss = fn(*batch).item()
        assert abs(loss - want) < (1e-4 if precision == "fp32" else 1e-2) * abs(want), (name, loss, want)
        print(f"{name:40} {mem.extra_mib:15.0f} {seconds:9.3f}  {loss:.5f}")


def cuda_peak_and_time(fn, repeats) -> tuple[float, float]:
    fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    peak = (torch.cuda.max_memory_allocated() - base) / MiB
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return peak, statistics.median(times)


def gpu_loss_section(rows, hidden_dim, vocab, repeats):
    print(f"\n== GPU ({torch.cuda.get_device_name()}): linear cross-entropy, N={rows} H={hidden_dim} "
          f"V={vocab}, bf16, forward + backward")
    batch = make_batch(rows, hidden_dim, vocab, "cuda", torch.bfloat16)
    variants = {
        "plain F.cross_entropy (full logits)": plain_linear_cross_entropy,
        "torch chunked, per-chunk step compiled": lambda h, w, t: chunked_linear_cross_entropy(h, w, t, compile=True),
        "torch fused (gradients in forward)": fused_linear_cross_entropy,
        "Liger fused linear cross-entropy": get_kernels("liger").linear_cross_entropy,
    }
    print(f"{'variant':40} {'peak extra MiB':>15} {'median ms':>10}  loss")
    for name, fn in variants.items():
        peak, seconds = cuda_peak_and_time(lambda fn=fn: loss_step(fn, *batch), repeats)
        print(f"{name:40} {peak:15.0f} {seconds * 1e3:10.2f}  {fn(*batch).item():.5f}")


def leaves(inputs, no_grad, dtype):
    return [x.detach().to(dtype, copy=True).requires_grad_(name not in no_grad) for name, x in inputs.items()]


def run_op(fn, args):
    """Forward, then backward of a fixed random cotangent; returns output(s) and gradients in fp32."""
    for x in args:
        x.grad = None
    out = fn(*args)
    outs = out if isinstance(out, tuple) else (out,)
    gen = torch.Generator("cuda").manual_seed(1)
    sum((o.float() * torch.randn(o.shape, generator=gen, device="cuda")).sum() for o in outs).backward()
    return [o.detach().float() for o in outs] + [x.grad.float() for x in args if x.grad is not None]


def max_rel_err(got, want) -> float:
    return max(((g - w).abs().max() / w.abs().max()).item() for g, w in zip(got, want))


def gpu_ops_section(repeats):
    lk, tk = get_kernels("liger"), torch_kernels()
    gen = torch.Generator("cuda").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device="cuda")

    b, t, dim, ffn, heads, kv_heads, hd = 8, 1024, 2048, 5632, 16, 8, 128
    angles = torch.outer(torch.arange(t, device="cuda").float(), 1e4 ** -(torch.arange(0, hd, 2, device="cuda") / hd))
    emb = torch.cat([angles, angles], -1)[None]
    ops = {  # name -> (op name on Kernels, inputs, inputs without gradient)
        "rms_norm": (lambda k: lambda x, w: k.rms_norm(x, w, 1e-5),
                     {"x": randn(b, t, dim), "w": randn(dim) * 0.1 + 1}, ()),
        "swiglu": (lambda k: k.swiglu, {"gate": randn(b, t, ffn), "up": randn(b, t, ffn)}, ()),
        "rope": (lambda k: lambda q, kk, c, s: k.rope(q.transpose(1, 2), kk.transpose(1, 2), c, s),
                 {"q": randn(b, t, heads, hd), "k": randn(b, t, kv_heads, hd), "cos": emb.cos(), "sin": emb.sin()},
                 ("cos", "sin")),
    }
    print(f"\n== GPU: Liger ops against torch, bf16, forward + backward\n{'op':10} {'liger vs torch':>15} "
          f"{'torch bf16 vs fp32':>19} {'liger ms':>9} {'torch ms':>9}")
    for name, (pick, inputs, no_grad) in ops.items():
        ref = run_op(pick(tk), leaves(inputs, no_grad, torch.float32))
        tb, lb = (run_op(pick(k), leaves(inputs, no_grad, torch.bfloat16)) for k in (tk, lk))
        steps = [functools.partial(run_op, pick(k), leaves(inputs, no_grad, torch.bfloat16)) for k in (lk, tk)]
        times = [cuda_peak_and_time(step, repeats)[1] for step in steps]
        print(f"{name:10} {max_rel_err(lb, tb):15.2e} {max_rel_err(tb, ref):19.2e} "
              f"{times[0] * 1e3:9.2f} {times[1] * 1e3:9.2f}")


def main():
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # glibc keeps freed memory otherwise; read at start-up
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-rows", type=int, default=16384)
    parser.add_argument("--gpu-hidden", type=int, default=2048)
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU sections (and their C++ compiles)")
    args = parser.parse_args()
    for precision in () if args.gpu_only else ("fp32", "bf16"):
        cpu_section(args.rows, args.hidden, args.vocab, args.repeats, precision)
    if torch.cuda.is_available():
        gpu_loss_section(args.gpu_rows, args.gpu_hidden, args.vocab, 10)
        gpu_ops_section(10)
    else:
        print("\n== GPU: skipped (no CUDA device)")


if __name__ == "__main__":
    main()
