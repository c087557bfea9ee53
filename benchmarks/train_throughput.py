"""Trainer throughput: gristmill's training step vs a plain transformers baseline, same model and batch.

    .venv/bin/python benchmarks/train_throughput.py            # GPU if there is one, else CPU
    .venv/bin/python benchmarks/train_throughput.py --device cuda --sizes 125M 350M 1B

gristmill: train/trainer.py `build`, our Llama as the trainer runs it. GPU: torch.compile per
block, FSDP2 with bf16 parameters, Liger kernels. CPU: bf16 autocast (or fp32), the fused linear
cross-entropy in torch, no compile (as the CPU pipelines run: it measured no faster there).
Both: torch's fused AdamW.
baseline: transformers `LlamaForCausalLM` (SDPA attention), torch AdamW with its defaults, bf16
autocast where the precision is bf16, no compile, no fused kernels.
--precision: bf16 on GPU; on CPU both fp32 and bf16, each side in the same precision as the other.
Each (variant, size) runs in its own process, so peak memory and compile caches are its own.
Inputs are random token ids: throughput does not depend on the text. Prints a Markdown table (median
tokens/s; the speed-up is the median over --repeat baseline/gristmill pairs, [min-max]);
MFU = model FLOPs (train/model.py flops_per_token: 6N + causal attention) x tokens/s / peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

H100_BF16_DENSE = 989e12
GPU_BATCH = {"125M": 16, "350M": 8, "1B": 4}  # sequences of 2048 per step


def measure(variant: str, size: str, device: str, seq: int, batch: int, steps: int, warmup: int,
            vocab: int, compile_: bool, precision: str) -> dict:
    import torch

    from train.config import TrainConfig
    from train.model import flops_per_token, model_config

    mcfg = model_config(size, vocab_size=vocab)
    dev = torch.device(device)
    if variant == "gristmill":
        from train.trainer import build, setup_distributed

        cfg = TrainConfig(out="/tmp/unused", seq_len=seq, micro_batch=batch, compile=compile_, device=device,
                          precision=precision,
                          stages=[{"mixture": {"tokens": ".", "weights": {"x": 1}}, "tokens": 1, "lr": {"peak": 1e-4}}])
        setup_distributed(device)
        model, opt = build(mcfg, cfg, dev, precision == "bf16")

        kernels = model.kernels.name

        def step(x, y):
            model(x, y).backward()
    else:
        from transformers import LlamaForCausalLM

        from train.export import llama_config

        torch.manual_seed(0)
        model = LlamaForCausalLM(llama_config(mcfg, seq, 0)).to(dev)
        model.config._attn_implementation = "sdpa"
        kernels = "torch"
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)

        def step(x, y):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(input_ids=x).logits
            torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten()).backward()

    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, vocab, (steps + warmup, batch, seq + 1), generator=gen)
    times = []
    for i in range(steps + warmup):
        x, y = data[i, :, :-1].to(dev), data[i, :, 1:].to(dev)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(x, y)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    tps = batch * seq / statistics.median(times)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if torch.distributed.is_initialized():  # the gristmill side's process group (NCCL on GPU): close it cleanly
        torch.distributed.destroy_process_group()
    return {"variant": variant, "size": size, "device": device, "kernels": kernels, "precision": precision,
            "seq": seq, "batch": batch,
            "params_M": sum(p.numel() for p in model.parameters()) / 1e6, "tokens_per_s": tps,
            "peak_GiB": peak, "flops_per_token": flops_per_token(mcfg, seq)}


def run_child(args, variant: str, size: str, batch: int, precision: str) -> dict | None:
    cmd = [sys.executable, __file__, "--child", variant, "--sizes", size, "--device", args.device,
           "--precision", precision,
           "--seq", str(args.seq), "--batch", str(batch), "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--vocab", str(args.vocab), "--compile" if args.compile else "--no-compile"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"{variant} {size}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--sizes", nargs="+")
    p.add_argument("--seq", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="gristmill with torch.compile (default: on GPU; off on CPU, where it measured no faster)")
    p.add_argument("--precision", nargs="+", choices=["fp32", "bf16"])
    p.add_argument("--repeat", type=int, default=3, help="baseline/gristmill pairs; the speed-up is their median")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    gpu = args.device == "cuda"
    args.sizes = args.sizes or (["125M", "350M", "1B"] if gpu else ["small"])
    args.seq = args.seq or (2048 if gpu else 256)
    args.precision = args.precision or (["bf16"] if gpu else ["fp32", "bf16"])
    args.compile = gpu if args.compile is None else args.compile
    if args.child:
        batch = args.batch or GPU_BATCH.get(args.sizes[0], 8)
        print(json.dumps(measure(args.child, args.sizes[0], args.device, args.seq, batch, args.steps,
                                 args.warmup, args.vocab, args.compile, args.precision[0])))
        return

    print("| size | params | device (gristmill kernels) | precision | seq x batch | baseline tok/s | gristmill tok/s | speed-up | "
          "baseline peak GiB | gristmill peak GiB |" + (" baseline MFU | gristmill MFU |" if gpu else ""))
    print("|---" * (12 if gpu else 10) + "|")
    for size, precision in [(s, p) for s in args.sizes for p in args.precision]:
        batch = args.batch or (GPU_BATCH.get(size, 8) if gpu else 8)
        pairs = [(run_child(args, "baseline", size, batch, precision),
                  run_child(args, "gristmill", size, batch, precision))
                 for _ in range(args.repeat)]  # A B A B: each ratio is taken between neighbours in time
        pairs = [(b, o) for b, o in pairs if b and o]
        if not pairs:
            continue
        ratios = [o["tokens_per_s"] / b["tokens_per_s"] for b, o in pairs]
        base = min((b for b, _ in pairs), key=lambda r: abs(r["tokens_per_s"] - statistics.median(
            x["tokens_per_s"] for x, _ in pairs)))
        ours = min((o for _, o in pairs), key=lambda r: abs(r["tokens_per_s"] - statistics.median(
            x["tokens_per_s"] for _, x in pairs)))
        spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if len(ratios) > 1 else ""
        row = (f"| {size} | {ours['params_M']:.0f}M | {args.device} ({ours['kernels']}) | {precision} | {args.seq} x {batch} | "
               f"{base['tokens_per_s']:,.0f} | {ours['tokens_per_s']:,.0f} | "
               f"{statistics.median(ratios):.2f}x{spread} | {base['peak_GiB']:.2f} | {ours['peak_GiB']:.2f} |")
        if gpu:
            mfu = [r["tokens_per_s"] * r["flops_per_token"] / H100_BF16_DENSE for r in (base, ours)]
            row += f" {mfu[0]:.1%} | {mfu[1]:.1%} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
