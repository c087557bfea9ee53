"""benchmarks/gpu_session.py and the throughput children it runs, without a GPU: the dry run end to end,
timeouts, stderr capture, NaN and fallback detection, the kernel switch and the compile counters."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_session  # noqa: E402
import train_throughput  # noqa: E402


def test_the_dry_run_runs_every_part_and_leaves_its_logs(tmp_path: Path):
    parts = ["env", "tests", "throughput", "kernels"]  # train + resume: ~40 s more on 2 cores (see the report)
    done = subprocess.run([sys.executable, "benchmarks/gpu_session.py", "--device", "cpu", "--sizes", "tiny",
                           "--out", str(tmp_path), "--wheels", str(tmp_path / "none"), "--parts", *parts],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(p["part"], p["status"]) for p in summary["parts"]] == [(p, "ok") for p in parts]
    for part in parts:
        assert (tmp_path / f"{part}.log").read_text().startswith(f"==== {part}")
    results = [json.loads(r) for r in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["variant"]: r["kernels"] for r in results} == {
        "baseline": "torch", "gristmill torch": "torch", "gristmill liger-loss": "liger-loss"}
    loss_only = next(r for r in results if r["kernels"] == "liger-loss")
    assert loss_only["liger_ops"] == ["flce"] and loss_only["interpreted"]  # the switch: Liger's loss alone ran
    assert all(r["status"] == "ok" and math.isfinite(r["final_loss"]) for r in results)
    table = (tmp_path / "throughput.log").read_text()
    assert "| tiny |" in table and "final losses" in table and "agree" in table
    assert "==== tiny fp32 baseline: ok" in (tmp_path / "children.log").read_text()


def test_a_part_that_hangs_is_killed_and_the_next_still_runs(tmp_path: Path):
    sleeper = [sys.executable, "-c", "import subprocess, sys, time; print('started', flush=True); "
               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"]
    parts = [gpu_session.Part("hang", [sleeper], timeout=2),
             gpu_session.Part("fail", [[sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                                       [sys.executable, "-c", "print('never')"]], timeout=30),
             gpu_session.Part("fine", [[sys.executable, "-c", "print('done')"]], timeout=30)]
    t0 = time.monotonic()
    results = gpu_session.run_parts(parts, tmp_path, budget=60)
    assert time.monotonic() - t0 < 20  # the sleeping grandchild did not hold the session
    assert [(r["part"], r["status"]) for r in results] == [("hang", "timeout"), ("fail", "failed"), ("fine", "ok")]
    assert results[1]["exit_status"] == 3
    assert "started" in (tmp_path / "hang.log").read_text() and "TIMEOUT" in (tmp_path / "hang.log").read_text()
    assert "boom" in (tmp_path / "fail.log").read_text() and "never" not in (tmp_path / "fail.log").read_text()
    assert "done" in (tmp_path / "fine.log").read_text()


def test_a_spent_budget_skips_the_remaining_parts(tmp_path: Path):
    parts = [gpu_session.Part("slow", [[sys.executable, "-c", "import time; time.sleep(30)"]], timeout=60),
             gpu_session.Part("late", [[sys.executable, "-c", "print(1)"]], timeout=60)]
    results = gpu_session.run_parts(parts, tmp_path, budget=17)
    assert [(r["part"], r["status"]) for r in results] == [("slow", "timeout"), ("late", "skipped")]


def test_a_throughput_child_that_times_out_or_fails_keeps_its_stderr(tmp_path: Path):
    log = tmp_path / "children.log"
    slow = train_throughput.run_child([sys.executable, "-c", "import sys, time; print('warming', file=sys.stderr, "
                                       "flush=True); time.sleep(60)"], {}, 2, log, "slow")
    assert slow["status"] == "timeout" and "no result within 2 s" in slow["error"] and "warming" in slow["error"]
    bad = train_throughput.run_child([sys.executable, "-c", "raise SystemExit('CUDA out of memory')"], {}, 30, log,
                                     "bad")
    assert bad["status"] == "failed" and "CUDA out of memory" in bad["error"]
    text = log.read_text()
    assert "==== slow: timeout" in text and "warming" in text and "==== bad: failed" in text


def result(**changes) -> dict:
    r = {"variant": "gristmill", "size": "tiny", "device": "cuda", "kernels": "liger", "precision": "bf16", "seq": 8,
         "batch": 1, "compile": True, "params": 10, "tokens_per_s": 100.0, "peak_GiB": 1.0, "flops_per_token": 1e9,
         "final_loss": 5.0, "liger_ops": ["flce", "rms_norm", "rope", "swiglu"], "frames_compiled": 2, "graphs": 2,
         "graph_breaks": 0, "recompiles": 0}
    return {**r, **changes}


def child_printing(r: dict) -> list[str]:
    return [sys.executable, "-c", f"print({json.dumps(json.dumps(r))})"]


@pytest.mark.parametrize("changes, status, why", [
    ({}, "ok", None),
    ({"final_loss": float("nan")}, "nan", "loss nan"),
    ({"final_loss": float("inf")}, "nan", "loss inf"),
    ({"frames_compiled": 0}, "fallback", "no frame compiled (eager)"),
    ({"liger_ops": ["flce"]}, "fallback", "never launched: rms_norm, rope, swiglu"),
    ({"kernels": "liger-loss", "liger_ops": []}, "fallback", "never launched: flce"),
    ({"kernels": "torch", "liger_ops": [], "compile": False, "frames_compiled": 0}, "ok", None),
])
def test_nan_losses_and_silent_fallbacks_fail_the_row(changes, status, why, tmp_path: Path):
    got = train_throughput.run_child(child_printing(result(**changes)), {}, 30, None, "x")
    assert got["status"] == status
    assert (why is None) == ("error" not in got) and (why is None or why in got["error"])
    base = result(variant="baseline", kernels="torch", liger_ops=[], compile=False, status="ok")
    row = train_throughput.table([base, got], True)[3]
    assert ("| ok |" in row) == (status == "ok") and (status == "ok" or status.upper() in row)


def test_the_table_says_which_kernel_choice_is_faster_and_whether_losses_agree():
    rows = [result(variant="baseline", kernels="torch", liger_ops=[], compile=False, tokens_per_s=50.0),
            result(variant="gristmill liger", tokens_per_s=100.0, final_loss=5.0),
            result(variant="gristmill liger-loss", kernels="liger-loss", liger_ops=["flce"], tokens_per_s=120.0,
                   final_loss=5.01)]
    text = "\n".join(train_throughput.table([{**r, "status": "ok"} for r in rows], gpu=True))
    assert "gristmill liger-loss is 1.20x gristmill liger; final losses 5.0100 vs 5.0000: agree" in text
    assert "| 2.00x |" in text and "| 2 / 0 / 0 |" in text
    rows[2]["final_loss"] = 6.0
    text = "\n".join(train_throughput.table([{**r, "status": "ok"} for r in rows], gpu=True))
    assert "DISAGREE" in text


def test_liger_ops_are_recognised_by_kernel_name_and_inductor_kernels_are_not():
    names = ["_rms_norm_forward_kernel", "_swiglu_forward_kernel", "_triton_rope", "liger_cross_entropy_kernel",
             "element_mul_kernel", "triton_poi_fused_rms_norm_forward_0", "ampere_bf16_gemm"]
    assert train_throughput.liger_ops(names) == ["flce", "rms_norm", "rope", "swiglu"]
    assert train_throughput.liger_ops(["triton_red_fused_mean_pow_rsqrt_0", "sm90_xmma_gemm"]) == []


def test_dynamo_counters_count_graph_breaks_and_recompiles():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()

    def f(x):
        y = x.sin()
        torch._dynamo.graph_break()
        return y.cos()

    g = torch.compile(f, backend="eager", dynamic=False)
    for shape in (3, 4):
        g(torch.randn(shape))
    counts = train_throughput.dynamo_counts()
    assert counts["frames_compiled"] >= 2 and counts["graph_breaks"] >= 1 and counts["recompiles"] >= 1
    torch._dynamo.reset()


def test_the_kernel_switch_from_config_and_environment(monkeypatch):
    from train import kernels

    monkeypatch.setattr(kernels, "_liger_usable", lambda: None)  # as on a GPU; nothing below runs a kernel
    monkeypatch.delenv(kernels.ENV, raising=False)
    loss_only = kernels.get_kernels("liger-loss")
    assert loss_only.name == "liger-loss"
    assert (loss_only.rms_norm, loss_only.swiglu, loss_only.rope) == (kernels.rms_norm, kernels.swiglu, kernels.rope)
    full = kernels.get_kernels("liger")
    assert full.rms_norm is not kernels.rms_norm and full.swiglu is not kernels.swiglu
    monkeypatch.setenv(kernels.ENV, "liger-loss")
    assert kernels.get_kernels("liger").name == "liger-loss"  # the environment wins over the config
    monkeypatch.setenv(kernels.ENV, "torch")
    assert kernels.get_kernels("liger").name == "torch"
    monkeypatch.setenv(kernels.ENV, "fast")
    with pytest.raises(ValueError, match="kernels must be one of"):
        kernels.get_kernels("auto")


def test_one_rank_keeps_parameters_gathered_after_forward(monkeypatch):
    import torch.distributed as dist
    import torch.distributed.fsdp as fsdp

    from train.kernels import torch_kernels
    from train.model import Transformer, model_config
    from train.parallelize import apply_fsdp

    calls = []
    monkeypatch.setattr(fsdp, "fully_shard", lambda module, **kw: calls.append(kw["reshard_after_forward"]))
    model = Transformer(model_config("tiny", vocab_size=64), torch_kernels())
    for world, want in ((1, False), (4, True)):
        calls.clear()
        monkeypatch.setattr(dist, "get_world_size", lambda world=world: world)
        apply_fsdp(model, torch.bfloat16)
        assert calls == [want] * (model.cfg.n_layers + 1)
