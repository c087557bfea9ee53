"""Checkpoints: model and optimizer through torch.distributed.checkpoint (DCP, sharded, loadable at
any world size), plus the trainer's own state (step, loader fingerprints, realised tokens) as JSON
and each rank's RNG state. A checkpoint is written under a temporary name and renamed when whole,
so a run killed mid-save resumes from the previous one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict


def _barrier():
    if dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def latest(root: Path) -> Path | None:
    done = sorted(root.glob("step-*[0-9]")) if root.exists() else []
    return done[-1] if done else None


def save(root: Path, step: int, model, optimizer, trainer_state: dict, keep: int) -> Path:
    final = root / f"step-{step:08d}"
    tmp = root / f"step-{step:08d}.tmp"
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optimizer": optim_sd}, checkpoint_id=tmp)
    torch.save({"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None},
               tmp / f"rng-{_rank()}.pt")
    _barrier()
    if _rank() == 0:
        (tmp / "trainer.json").write_text(json.dumps(trainer_state, indent=1))
        os.replace(tmp, final)
        for old in sorted(root.glob("step-*[0-9]"))[:-keep]:
            shutil.rmtree(old)
    _barrier()
    return final


def load(path: Path, model, optimizer) -> dict:
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optimizer": optim_sd}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    rng_file = path / f"rng-{_rank()}.pt"
    if rng_file.exists():  # absent when resuming at a larger world size
        rng = torch.load(rng_file, weights_only=False)
        torch.set_rng_state(rng["cpu"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
    return json.loads((path / "trainer.json").read_text())
