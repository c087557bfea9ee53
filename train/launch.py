"""The torchrun command behind `gristmill train --nproc N [--nnodes M ...]`: N processes on this machine
(`--standalone`), or N on each of M machines meeting at a c10d rendezvous endpoint.

Across machines every node runs the same command with its own `--node-rank`; the rendezvous host (the
endpoint's machine) keeps the store. Without `--node-rank` the commands are printed, one per node, to
paste on each machine (or hand to a scheduler); with it, this machine's part runs here.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from provenance.yamlfile import ConfigError


@dataclass(frozen=True)
class Launch:
    nproc: int = 1  # processes on each machine
    nnodes: int = 1  # machines
    node_rank: int | None = None  # this machine's place, 0..nnodes-1; None: print every node's command
    rdzv_endpoint: str | None = None  # HOST:PORT every node can reach; the store runs on HOST
    rdzv_id: str = "gristmill"  # the job's name at the endpoint: the same on every node

    @property
    def distributed(self) -> bool:
        return self.nproc > 1 or self.nnodes > 1

    def __post_init__(self):  # a bad combination stops here, before any process starts
        if problems := self.errors():
            raise ConfigError(problems)

    def errors(self) -> list[str]:
        problems = []
        if self.nproc < 1:
            problems.append(f"--nproc {self.nproc}: give 1 or more processes per machine")
        if self.nnodes < 1:
            problems.append(f"--nnodes {self.nnodes}: give 1 or more machines")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            problems.append(f"--nnodes {self.nnodes}: give --rdzv-endpoint HOST:PORT, an address every node "
                            "can reach (the node at HOST keeps the rendezvous store)")
        if self.rdzv_endpoint:
            host, _, port = self.rdzv_endpoint.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"--rdzv-endpoint {self.rdzv_endpoint!r}: expected HOST:PORT, e.g. node0:29500")
        if self.node_rank is not None and not 0 <= self.node_rank < self.nnodes:
            problems.append(f"--node-rank {self.node_rank}: expected 0..{self.nnodes - 1} for --nnodes {self.nnodes}")
        if (self.node_rank is not None or self.rdzv_endpoint) and self.nnodes == 1:
            problems.append("--node-rank and --rdzv-endpoint are for several machines: give --nnodes too")
        return problems


def torchrun_args(launch: Launch, node_rank: int) -> list[str]:
    """torchrun's options for one node."""
    if launch.nnodes == 1:
        return ["--standalone", f"--nproc-per-node={launch.nproc}"]
    return [f"--nnodes={launch.nnodes}", f"--nproc-per-node={launch.nproc}", f"--node-rank={node_rank}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={launch.rdzv_endpoint}", f"--rdzv-id={launch.rdzv_id}"]


def job_id(*parts: str) -> str:
    """A rendezvous id every node derives alike from the same config and overrides."""
    return "gristmill-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def launch(plan: Launch, entry: list[str], print_line: Callable[[str], None] = print) -> int:
    """Run `entry` (e.g. ["-m", "pipelines.cli", "train", cfg]) under torchrun here, or print every node's
    command when several machines are asked for and no --node-rank says which this one is. The exit code."""
    if plan.nnodes > 1 and plan.node_rank is None:
        print_line(f"# {plan.nnodes} machines x {plan.nproc} processes; run each line on its machine "
                   f"(or this command with --node-rank R there). Every node needs the token shards and the "
                   f"train YAML at the same paths, and `out` on a filesystem all nodes share.")
        for rank in range(plan.nnodes):
            print_line(shlex.join(["torchrun", *torchrun_args(plan, rank), *entry]))
        return 0
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_args(plan, plan.node_rank or 0), *entry]
    return subprocess.call(command)
