"""The trainer's GPU figures in one command that fits a lent GPU's ten minutes, fails visibly and cannot hang.

    python3 benchmarks/gpu_session.py                         # on the lent H100 (benchmarks/GPU-SESSION.md)
    .venv/bin/python benchmarks/gpu_session.py --device cpu --sizes tiny   # the dry run (tests, CI)

Parts, in order, each in its own process group under its own timeout (never past --budget seconds
from the start), each one's output tee'd to OUT/<part>.log; a part that fails or times out does not stop
the next:
  env         install the wheels in --wheels (pip --no-index --target), then device, versions and the
              imports the rest needs (pydantic with a new enough typing-extensions, liger_kernel,
              flash attention with GQA on CUDA)
  tests       tests/test_kernels.py's CUDA and kernel-choice tests
  throughput  benchmarks/train_throughput.py, one repeat: baseline and gristmill (liger) per size, then
              gristmill liger-loss where time allows (OUT/children.log, OUT/results.jsonl)
  kernels     benchmarks/kernels_cpu.py --gpu-only
  train       whatever time is left: a short training run with checkpoints, then its resume from an
              earlier checkpoint; the resumed steps' losses must repeat the first run's
OUT is $OUT where set (the lent machine returns it), else out/gpu-session; OUT/summary.json names
each part's status and seconds. Exit status 0 only when every part passed.
Only the standard library here: the lent machine's Python has no pydantic until the env part installs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = Path("/tmp/gristmill-site")  # where the env part installs the carried wheels
# Seconds each part may take on one H100 (the budget caps them all; train gets what is left).
GPU_TIMEOUTS = {"env": 60, "tests": 120, "throughput": 270, "kernels": 75, "train": 300}
CPU_TIMEOUTS = {"env": 60, "tests": 120, "throughput": 120, "kernels": 30, "train": 120}


@dataclass
class Part:
    name: str
    commands: list[list[str]]  # run one after the other while they succeed, under the part's one timeout
    timeout: float
    env: dict = field(default_factory=dict)


def run_part(part: Part, log: Path, deadline: float) -> dict:
    """Run a part's commands in a new process group, their output to our stdout and `log`; kill the group
    at the part's timeout or the session's deadline, whichever is first."""
    t0 = time.monotonic()
    stop = min(t0 + part.timeout, deadline)
    status, rc = "ok", 0
    with open(log, "w") as fh:
        def tee(line: str) -> None:
            sys.stdout.write(line)
            sys.stdout.flush()
            fh.write(line)
            fh.flush()

        tee(f"==== {part.name} (timeout {stop - t0:.0f} s)\n")
        for cmd in part.commands:
            tee(f"$ {' '.join(cmd)}\n")
            proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **part.env}, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
            reader = threading.Thread(target=lambda p=proc: [tee(line) for line in p.stdout], daemon=True)
            reader.start()
            try:
                rc = proc.wait(timeout=max(0.1, stop - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
                status = "timeout"
            reader.join(timeout=5)  # a grandchild that left the group may hold the pipe: do not wait on it
            if status == "timeout" or rc != 0:
                status = status if status == "timeout" else "failed"
                break
        seconds = time.monotonic() - t0
        tee(f"==== {part.name}: {status.upper()}" + (f" (exit status {rc})" if status == "failed" else "")
            + f" after {seconds:.0f} s\n")
    return {"part": part.name, "status": status, "exit_status": rc, "seconds": round(seconds, 1), "log": log.name}


def run_parts(parts: list[Part], out: Path, budget: float) -> list[dict]:
    deadline = time.monotonic() + budget
    results = []
    for part in parts:
        if deadline - time.monotonic() < 15:
            print(f"==== {part.name}: SKIPPED (session budget spent)", flush=True)
            results.append({"part": part.name, "status": "skipped", "seconds": 0})
            continue
        results.append(run_part(part, out / f"{part.name}.log", deadline))
    return results


# ---- the parts -----------------------------------------------------------------------------------


def check_env(device: str) -> int:
    """Print the device and the versions this session runs with; non-zero when an import the parts need fails."""
    import importlib.metadata as md
    import platform

    failures = []
    print(f"python {platform.python_version()} ({sys.executable})")
    for dist in ("torch", "triton", "liger-kernel", "transformers", "pydantic", "pydantic-core", "typing-extensions",
                 "numpy", "pyyaml", "pyarrow"):
        try:
            where = md.distribution(dist).locate_file("")
            print(f"{dist} {md.version(dist)} ({where})")
        except md.PackageNotFoundError:
            print(f"{dist}: not installed")
    try:
        from packaging.requirements import Requirement

        for req in map(Requirement, md.requires("pydantic") or []):
            if req.name == "typing-extensions" and md.version("typing-extensions") not in req.specifier:
                failures.append(f"typing-extensions {md.version('typing-extensions')} does not meet pydantic's {req}")
    except Exception as e:  # noqa: BLE001 - reported, then the import below says more
        failures.append(f"checking pydantic's requirements: {e!r}")
    for module in ("pydantic", "yaml", "pyarrow", "transformers") + (("liger_kernel.transformers.functional",)
                                                                       if device == "cuda" else ()):
        try:
            __import__(module)
        except Exception as e:  # noqa: BLE001
            failures.append(f"import {module}: {e!r}")
    import torch

    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
    if device == "cuda":
        if not torch.cuda.is_available():
            failures.append("no CUDA device")
        else:
            print(f"device: {torch.cuda.get_device_name()}, capability {torch.cuda.get_device_capability()}, "
                  f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
            import torch.nn.functional as F
            from torch.nn.attention import SDPBackend, sdpa_kernel

            q = torch.randn(4, 32, 2048, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn(4, 8, 2048, 64, device="cuda", dtype=torch.bfloat16)
            try:
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                    F.scaled_dot_product_attention(q, k, k, is_causal=True, enable_gqa=True).sum().backward()
                print("flash attention with GQA: ok")
            except RuntimeError as e:
                failures.append(f"flash attention with GQA: {e} (the model's SDPA would fall back to the math kernel)")
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


def train_and_resume(device: str, tokens: Path, work: Path) -> int:
    """A short training run with a checkpoint every 4 steps, then the same run resumed from step 4: its
    steps 5-12 must give the first run's losses (bf16 on a GPU: within 2%; fp32 on CPU: 1e-5)."""
    if not (tokens / "meta.json").is_file():
        print(f"FAILED: no token shards at {tokens} (carry out/tokens, or pass --tokens)")
        return 1
    sources = list(json.loads((tokens / "meta.json").read_text())["sources"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mixture = work / "mixture.yaml"  # JSON is YAML
    mixture.write_text(json.dumps({"tokens": str(tokens.resolve()), "weights": {s: 1 for s in sources},
                                   "max_epochs": 100}))
    gpu = device == "cuda"
    seq, batch = (1024, 16) if gpu else (64, 4)
    step_tokens = seq * batch
    overrides = [f"out={work / 'run'}", f"model.size={'125M' if gpu else 'tiny'}", f"seq_len={seq}",
                 f"micro_batch={batch}", "grad_accum=1", f"device={device}", f"compile={str(gpu).lower()}",
                 f"stages.0.mixture={mixture}", f"stages.0.tokens={8 * step_tokens}", "stages.0.lr.warmup_steps=2",
                 f"stages.1.mixture={mixture}", f"stages.1.tokens={4 * step_tokens}", "eval.every=0",
                 "eval.max_tokens_per_source=2048", "checkpoint.every=4", "checkpoint.keep=3", "log_every=1",
                 "export=false"]
    cmd = [sys.executable, "-m", "pipelines.cli", "train", "pipelines/train_tiny.yaml"]
    for o in overrides:
        cmd += ["--set", o]

    def train() -> int:
        print("$ " + " ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT).returncode

    if train():
        return 1
    first = [json.loads(r) for r in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    for later in ("step-00000008", "step-00000012"):
        shutil.rmtree(work / "run" / "checkpoints" / later)
    if train():
        return 1
    again = [json.loads(r) for r in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    want = {r["step"]: r["loss"] for r in first if "loss" in r and r["step"] > 4}
    got = {r["step"]: r["loss"] for r in again if "loss" in r and r["step"] > 4}
    if sorted(got) != sorted(want):
        print(f"FAILED: resumed run logged steps {sorted(got)}, the first run {sorted(want)}")
        return 1
    worst = max(abs(got[s] - want[s]) / abs(want[s]) for s in want)
    rtol = 2e-2 if gpu else 1e-5
    print(f"resume from step 4: steps 5-12 losses within {worst:.2e} of the first run's (allowed {rtol:.0e})")
    return 0 if worst <= rtol else 1


def plan(args, out: Path) -> list[Part]:
    gpu = args.device == "cuda"
    py = sys.executable
    me = str(Path(__file__).resolve())
    timeouts = GPU_TIMEOUTS if gpu else CPU_TIMEOUTS
    paths = ([str(SITE)] if args.wheels.is_dir() else []) + [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, paths)), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    wheels = sorted(str(w) for w in args.wheels.glob("*.whl")) if args.wheels.is_dir() else []
    install = [[py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
                "--upgrade", "--target", str(SITE), *wheels]] if wheels else []
    sizes = args.sizes or (["125M", "350M", "1B"] if gpu else ["tiny"])
    bench = [py, "benchmarks/train_throughput.py", "--device", args.device, "--sizes", *sizes, "--repeat", "1",
             "--kernels", *(["liger", "liger-loss"] if gpu else ["torch", "liger-loss"]),
             "--timeout", "150" if gpu else "60", "--budget", str(timeouts["throughput"] - 10),
             "--log", str(out / "children.log"), "--json", str(out / "results.jsonl")]
    if not gpu:  # the dry run: small enough for a test
        bench += ["--seq", "32", "--batch", "2", "--steps", "2", "--warmup", "1", "--vocab", "512", "--precision", "fp32"]
    parts = [
        Part("env", install + [[py, me, "--check-env", args.device]], timeouts["env"], env),
        Part("tests", [[py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_kernels.py", "-k",
                        "cuda or get_kernels"]], timeouts["tests"], env),
        Part("throughput", [bench], timeouts["throughput"], env),
        Part("kernels", [[py, "benchmarks/kernels_cpu.py", "--gpu-only"]], timeouts["kernels"], env),
        Part("train", [[py, me, "--train-and-resume", args.device, "--tokens", str(args.tokens)]],
             timeouts["train"], env),
    ]
    return [p for p in parts if p.name in args.parts]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--sizes", nargs="+", help="model sizes for the throughput part (default: 125M 350M 1B on cuda)")
    p.add_argument("--budget", type=float, default=540, help="seconds for every part together (default 9 min)")
    p.add_argument("--parts", nargs="+", default=["env", "tests", "throughput", "kernels", "train"])
    p.add_argument("--wheels", type=Path, default=ROOT / ".whl", help="wheels to install first (if the folder exists)")
    p.add_argument("--tokens", type=Path, default=ROOT / "out" / "tokens", help="token shards for the train part")
    p.add_argument("--out", type=Path, help="where the logs go (default: $OUT, else out/gpu-session)")
    p.add_argument("--check-env", metavar="DEVICE", help=argparse.SUPPRESS)
    p.add_argument("--train-and-resume", metavar="DEVICE", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.check_env:
        sys.exit(check_env(args.check_env))
    if args.train_and_resume:
        sys.exit(train_and_resume(args.train_and_resume, args.tokens, Path("/tmp/gristmill-session-train")))
    out = args.out or Path(os.environ.get("OUT") or ROOT / "out" / "gpu-session")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("children.log", "results.jsonl"):  # appended to by the throughput part
        (out / stale).unlink(missing_ok=True)
    results = run_parts(plan(args, out), out, args.budget)
    (out / "summary.json").write_text(json.dumps({"device": args.device, "parts": results}, indent=1))
    print("\n| part | status | seconds |\n|---|---|---|")
    for r in results:
        print(f"| {r['part']} | {r['status']} | {r['seconds']:.0f} |")
    sys.exit(0 if all(r["status"] == "ok" for r in results) else 1)


if __name__ == "__main__":
    main()
