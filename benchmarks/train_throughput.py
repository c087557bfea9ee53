"""Trainer throughput: gristmill's training step vs a plain transformers baseline, same model and batch.

    .venv/bin/python benchmarks/train_throughput.py            # GPU if there is one, else CPU
    .venv/bin/python benchmarks/train_throughput.py --device cuda --sizes 125M 350M 1B --kernels liger liger-loss

gristmill: train/trainer.py `build`, our Llama as the trainer runs it. GPU: torch.compile per
block, FSDP2 with bf16 parameters (one rank: no resharding after forward), Liger kernels. CPU: bf16
autocast (or fp32), the fused linear cross-entropy in torch, no compile (as the CPU pipelines run: it
measured no faster there). Both: torch's fused AdamW.
--kernels: one gristmill row per choice (train/kernels.py; passed to the child as $GRISTMILL_KERNELS):
`liger` (all of Liger's ops), `liger-loss` (Liger's fused linear cross-entropy only, torch ops inside
the compiled blocks), `torch`, `auto`. On CPU a Liger choice runs under Triton's interpreter (slow:
for dry runs only, marked "interpreted").
baseline: transformers `LlamaForCausalLM` (SDPA attention), torch AdamW with its defaults, bf16
autocast where the precision is bf16, no compile, no fused kernels.
--precision: bf16 on GPU; on CPU both fp32 and bf16, each side in the same precision as the other.

Each (variant, size) runs in its own process group under a timeout (--timeout, and never past
--budget seconds from the start), so peak memory and compile caches are its own and a hung child is
killed with everything it started. Its stderr goes to --log always and into the result on failure.
A child's result (one JSON line, appended to --json) carries tokens/s (steps timed back to back, one
device sync at each end), peak memory, the final loss, torch._dynamo's counters (frames compiled,
graphs, graph breaks, guard failures: recompiles) and which Liger kernels launched in one profiled step
after the timed ones. A row fails (and the exit status is 1) when its child fails or times out, its
loss is not finite, compile was asked for and no frame compiled (silent eager), or a Liger op the
choice names never launched (silent torch fallback).
Inputs are random token ids: throughput does not depend on the text. Prints a Markdown table (median
tokens/s over --repeat); MFU = model FLOPs (train/model.py flops_per_token: 6N + causal attention)
x tokens/s / 989 TFLOP/s, the dense bf16 peak of an H100 SXM and of an H200.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAK_BF16_DENSE = 989e12  # FLOP/s, H100 SXM and H200 datasheets (dense, no sparsity)
GPU_BATCH = {"125M": 16, "350M": 8, "1B": 4}  # sequences of 2048 per step
# Liger's Triton kernels (forward names) -> the op they serve; matched as substrings of launched kernels.
LIGER_KERNELS = {"rms_norm_forward": "rms_norm", "swiglu_forward": "swiglu", "triton_rope": "rope",
                 "liger_cross_entropy_kernel": "flce"}
EXPECTED_OPS = {"liger": {"rms_norm", "swiglu", "rope", "flce"}, "liger-loss": {"flce"}, "torch": set()}
LOSS_AGREE_RTOL = 0.02  # bf16 losses of two kernel choices after the same steps from the same init


def liger_ops(kernel_names) -> list[str]:
    """The Liger ops whose kernels appear among launched kernel names (inductor's own kernels, named
    triton_poi_/triton_red_/..., never count)."""
    ops = {op for name in kernel_names if not name.startswith("triton_")
           for key, op in LIGER_KERNELS.items() if key in name}
    return sorted(ops)


def launched_kernels(step, device: str) -> list[str]:
    """Names of the GPU kernels (CUDA: profiler) or Triton-interpreted kernels (CPU) one call of `step` launches."""
    if device == "cuda":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
        return sorted({e.key for e in prof.key_averages()})
    if os.environ.get("TRITON_INTERPRET") != "1":
        step()
        return []
    from triton.runtime import interpreter

    names: Counter[str] = Counter()
    run = interpreter.InterpretedFunction.run

    def counted(self, *args, **kwargs):
        names[self.fn.__name__] += 1
        return run(self, *args, **kwargs)

    interpreter.InterpretedFunction.run = counted
    try:
        step()
    finally:
        interpreter.InterpretedFunction.run = run
    return sorted(names)


def dynamo_counts() -> dict:
    from torch._dynamo.utils import counters, guard_failures

    return {"frames_compiled": counters["frames"]["ok"], "graphs": counters["stats"]["unique_graphs"],
            "graph_breaks": sum(counters["graph_break"].values()),
            "recompiles": sum(len(v) for v in guard_failures.values()),
            "graph_break_reasons": sorted({r.splitlines()[0][:160] for r in counters["graph_break"]})[:5]}


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

        def loss_of(x, y):
            return model(x, y)
    else:
        from transformers import LlamaForCausalLM

        from train.export import llama_config

        torch.manual_seed(0)
        model = LlamaForCausalLM(llama_config(mcfg, seq, 0)).to(dev)
        model.config._attn_implementation = "sdpa"
        kernels = "torch"
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)

        def loss_of(x, y):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(input_ids=x).logits
            return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())

    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, vocab, (steps + warmup + 1, batch, seq + 1), generator=gen).to(dev)

    def step(i):
        loss = loss_of(data[i, :, :-1], data[i, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for i in range(warmup):  # compilation, autotuning, allocator warm-up
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):  # no host sync inside: the loss stays on the device
        loss = step(i)
    sync()
    seconds = (time.perf_counter() - t0) / max(1, steps)
    final_loss = loss.float().item() if steps else float("nan")
    ran = launched_kernels(lambda: step(warmup + steps), device)  # one more step, profiled, not timed
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if torch.distributed.is_initialized():  # the gristmill side's process group (NCCL on GPU): close it cleanly
        torch.distributed.destroy_process_group()
    return {"variant": variant, "size": size, "device": device, "kernels": kernels, "precision": precision,
            "seq": seq, "batch": batch, "compile": compile_ and variant == "gristmill",
            "interpreted": device == "cpu" and os.environ.get("TRITON_INTERPRET") == "1",
            "params": sum(p.numel() for p in model.parameters()), "tokens_per_s": batch * seq / seconds,
            "peak_GiB": peak, "flops_per_token": flops_per_token(mcfg, seq), "final_loss": final_loss,
            "liger_ops": liger_ops(ran), **dynamo_counts()}


def problems(result: dict) -> list[str]:
    """Why a child's result cannot stand in the table as measured (empty: it can)."""
    found = []
    if not math.isfinite(result["final_loss"]):
        found.append(f"loss {result['final_loss']}")
    if result["compile"] and not result["frames_compiled"]:
        found.append("compile asked, no frame compiled (eager)")
    missing = EXPECTED_OPS.get(result["kernels"], set()) - set(result["liger_ops"])
    if missing:
        found.append(f"Liger ops that never launched: {', '.join(sorted(missing))}")
    return found


def run_child(cmd: list[str], env: dict, timeout: float, log: Path | None, label: str) -> dict:
    """Run one child in its own process group; kill the group at `timeout`. Returns its JSON result with
    "status" ok | failed | timeout | nan | fallback, "error" (why, with the tail of its stderr), "wall_s"."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(1.0, timeout))
            status = "ok" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            status = "timeout"
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t0
    if log is not None:
        with open(log, "a") as fh:
            fh.write(f"==== {label}: {status} after {wall:.0f} s (rc {proc.returncode})\n$ {' '.join(cmd)}\n{stderr}\n")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if status == "ok" and lines else {}
    if status == "ok" and not lines:
        status = "failed"
    result.update(status=status, wall_s=round(wall, 1), label=label)
    if status == "ok" and problems(result):
        result["status"] = "nan" if not math.isfinite(result["final_loss"]) else "fallback"
        result["error"] = "; ".join(problems(result))
    elif status != "ok":
        why = f"no result within {timeout:.0f} s" if status == "timeout" else f"exit status {proc.returncode}"
        result["error"] = f"{why}\n{stderr[-3000:]}"
    return result


def child_command(args, variant: str, size: str, batch: int, precision: str) -> list[str]:
    return [sys.executable, __file__, "--child", variant, "--sizes", size, "--device", args.device,
            "--precision", precision, "--seq", str(args.seq), "--batch", str(batch), "--steps", str(args.steps),
            "--warmup", str(args.warmup), "--vocab", str(args.vocab), "--compile" if args.compile else "--no-compile"]


def child_env(device: str, kernels: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("GRISTMILL_KERNELS", None)
    if kernels:
        env["GRISTMILL_KERNELS"] = kernels
        if device == "cpu" and kernels.startswith("liger"):
            env["TRITON_INTERPRET"] = "1"  # a dry run of the Liger path on CPU
    return env


def jobs(args) -> list[tuple[str, str, str | None, str]]:
    """(size, precision, kernels choice or None for the baseline, label) in the order they run: every size's
    baseline and first choice first, then the other choices, so a short budget still covers every size."""
    first = [(s, p, k) for s in args.sizes for p in args.precision for k in (None, args.kernels[0])]
    rest = [(s, p, k) for k in args.kernels[1:] for s in args.sizes for p in args.precision]
    return [(s, p, k, f"{s} {p} {k or 'baseline'}") for _ in range(args.repeat) for s, p, k in first + rest]


def fmt_row(r: dict, base: dict | None, gpu: bool) -> str:
    if r["status"] not in ("ok", "nan", "fallback") or "tokens_per_s" not in r:
        return f"| {r['size']} | | {r['variant']} | | | | | | | | {r['status'].upper()} |"
    ops = " ".join(r["liger_ops"]) or "none"
    kernels = f"{r['kernels']}{' (interpreted)' if r.get('interpreted') else ''}: {ops}"
    graphs = (f"{r['frames_compiled']} / {r['graph_breaks']} / {r['recompiles']}" if r["compile"] else "eager")
    speed = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base and base.get("tokens_per_s") else ""
    mfu = f" {r['tokens_per_s'] * r['flops_per_token'] / PEAK_BF16_DENSE:.1%} |" if gpu else ""
    status = "ok" if r["status"] == "ok" else f"{r['status'].upper()}: {r['error']}"
    return (f"| {r['size']} | {r['params']:,} | {r['variant']} | {kernels} | {graphs} | {r['seq']} x {r['batch']} | "
            f"{r['tokens_per_s']:,.0f} | {speed} | {r['peak_GiB']:.2f} |{mfu} {r['final_loss']:.4f} | {status} |")


def table(results: list[dict], gpu: bool) -> list[str]:
    """The Markdown table (one row per size, precision and variant; median tokens/s over repeats) and,
    per size, which kernel choice was faster and whether their losses agree."""
    lines = ["| size | params | variant | kernels: Liger ops launched | compile: frames / graph breaks / recompiles | "
             "seq x batch | tok/s | vs baseline | peak GiB |" + (" MFU |" if gpu else "") + " final loss | status |",
             "|---" * (12 if gpu else 11) + "|"]
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["size"], r["precision"], r["variant"]), []).append(r)
    notes = []
    for size, precision in dict.fromkeys((k[0], k[1]) for k in groups):
        picked = {}
        for (s, p, v), rs in groups.items():
            if (s, p) != (size, precision):
                continue
            good = [r for r in rs if r["status"] == "ok"]
            if good:
                median = statistics.median(r["tokens_per_s"] for r in good)
                picked[v] = min(good, key=lambda r: abs(r["tokens_per_s"] - median))
            else:
                picked[v] = rs[-1]
        base = picked.get("baseline")
        for v, r in picked.items():
            lines.append(fmt_row(r, base if v != "baseline" else None, gpu))
        ours = [r for v, r in picked.items() if v != "baseline" and r["status"] == "ok"]
        if len(ours) == 2:
            a, b = sorted(ours, key=lambda r: -r["tokens_per_s"])
            agree = abs(a["final_loss"] - b["final_loss"]) <= LOSS_AGREE_RTOL * abs(b["final_loss"])
            notes.append(f"{size} {precision}: {a['variant']} is {a['tokens_per_s'] / b['tokens_per_s']:.2f}x "
                         f"{b['variant']}; final losses {a['final_loss']:.4f} vs {b['final_loss']:.4f}: "
                         + ("agree" if agree else f"DISAGREE (more than {LOSS_AGREE_RTOL:.0%} apart)"))
    return lines + ([""] + notes if notes else [])


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
    p.add_argument("--kernels", nargs="+", choices=["auto", "torch", "liger", "liger-loss"],
                   help="gristmill variants, one row each (default: auto)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each (size, variant); the table takes the median")
    p.add_argument("--timeout", type=float, default=300, help="seconds one child may take")
    p.add_argument("--budget", type=float, default=float("inf"), help="seconds for all children together")
    p.add_argument("--log", type=Path, help="append every child's stderr here")
    p.add_argument("--json", type=Path, help="append every child's result here (JSON lines)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    gpu = args.device == "cuda"
    args.sizes = args.sizes or (["125M", "350M", "1B"] if gpu else ["small"])
    args.seq = args.seq or (2048 if gpu else 256)
    args.precision = args.precision or (["bf16"] if gpu else ["fp32", "bf16"])
    args.compile = gpu if args.compile is None else args.compile
    args.kernels = args.kernels or ["auto"]
    if args.child:
        batch = args.batch or GPU_BATCH.get(args.sizes[0], 8)
        print(json.dumps(measure(args.child, args.sizes[0], args.device, args.seq, batch, args.steps,
                                 args.warmup, args.vocab, args.compile, args.precision[0])))
        return

    deadline = time.monotonic() + args.budget
    results = []
    for size, precision, kernels, label in jobs(args):
        left = deadline - time.monotonic()
        if left < 10:
            print(f"{label}: skipped (budget spent)", file=sys.stderr, flush=True)
            continue
        batch = args.batch or (GPU_BATCH.get(size, 8) if gpu else 8)
        variant = "gristmill" if kernels else "baseline"
        r = run_child(child_command(args, variant, size, batch, precision), child_env(args.device, kernels),
                      min(args.timeout, left), args.log, label)
        r.setdefault("size", size)
        r.setdefault("precision", precision)
        r["variant"] = f"gristmill {kernels}" if kernels else "baseline"
        results.append(r)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(r) + "\n")
        print(f"{label}: {r['status']} in {r['wall_s']:.0f} s" + (f" ({r['error'].splitlines()[0]})" if r.get("error") else "")
              + (f", {r['tokens_per_s']:,.0f} tok/s, loss {r['final_loss']:.4f}" if "tokens_per_s" in r else ""),
              file=sys.stderr, flush=True)
    if gpu:
        print(f"MFU against {PEAK_BF16_DENSE / 1e12:.0f} TFLOP/s dense bf16 (H100 SXM, H200).")
    print("\n".join(table(results, gpu)), flush=True)
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        print(f"\n{r['label']}: {r['status']}: {r['error']}", file=sys.stderr)
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
