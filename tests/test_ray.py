"""The `ray` executor on a real local Ray cluster (a head and one worker node, each its own `ray start`
on 127.0.0.1): the quickstart and Common Crawl pipelines give the same files and counts as the local
executor, a Ray worker killed mid-task is survived, a task's error reaches the driver as itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from curate.engine.plan import load_plan
from curate.engine.run import run
from provenance.yamlfile import ConfigError

ray = pytest.importorskip("ray", reason="the ray executor needs Ray: pip install 'gristmill[ray]'")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
RAY_CLI = str(Path(sys.executable).with_name("ray"))
# the quickstart pipeline on two of its five files (the others add minutes of datatrove's C4 filter on 2
# cores, not code paths): both dedup steps still find duplicates there
QUICKSTART = ["input.keep_columns=[]",
              f"input.paths=[{SAMPLE}/books-botchan.jsonl.gz,{SAMPLE}/news-abc.jsonl.gz]"]


@contextmanager
def local_cluster(cpus_per_node: int = 1, workers: int = 1):
    """A Ray cluster on this machine: `ray start --head` and `workers` more `ray start --address` nodes, each
    with `cpus_per_node` CPUs, all on 127.0.0.1, token auth off, files under a fresh /tmp folder (Ray's
    socket paths must stay short). Yields the head's address; every node is stopped on the way out."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    folder = tempfile.mkdtemp(prefix="gmray-", dir="/tmp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    common = ["--block", f"--num-cpus={cpus_per_node}", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    nodes: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> subprocess.Popen:
        with open(f"{folder}/{name}.log", "w") as out:
            node = subprocess.Popen([RAY_CLI, "start", *args, *common], env=env, cwd=folder, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        nodes.append(node)
        return node

    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # this process connects as a driver
    try:
        start("head", ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={folder}"])
        for i in range(workers):
            start(f"worker-{i}", [f"--address={address}"])
        deadline = time.monotonic() + 90
        while True:
            for node in nodes:
                if node.poll() is not None:
                    raise RuntimeError(f"a Ray node did not start: {Path(folder).glob('*.log')}")
            try:
                if not ray.is_initialized():
                    ray.init(address=address, logging_level="ERROR")
                if sum(n["Alive"] for n in ray.nodes()) == workers + 1:
                    break
            except ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster did not come up in 90 s; see {folder}/*.log")
            time.sleep(0.2)
        ray.shutdown()
        yield address, nodes
    finally:
        ray.shutdown()
        for node in nodes:
            node.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes on SIGTERM
        for node in nodes:
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)  # the session it was started in: only its own processes
                node.wait()
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as (address, nodes):
        yield address, nodes
    # the driver connection is made by the executor, once, and reused by every test here


def run_pipeline(yaml: str, out: Path, overrides: list[str]) -> dict:
    plan = load_plan(str(ROOT / "pipelines" / yaml), [*overrides, f"output.path={out}"])
    run(plan, progress=False)
    return json.loads((out / "manifest.json").read_text())


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in ("seconds", "path")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def assert_same_run(local: Path, other: Path) -> None:
    """Every output file byte for byte (shards, rejected samples, reports), and the manifest's counts."""
    files = sorted(str(p.relative_to(local)) for p in local.rglob("*")
                   if p.is_file() and p.name not in ("manifest.json", "run.log"))
    assert files == sorted(str(p.relative_to(other)) for p in other.rglob("*")
                           if p.is_file() and p.name not in ("manifest.json", "run.log", ".gristmill.lock"))
    assert any(f.startswith("part-") for f in files)
    for name in files:
        assert (local / name).read_bytes() == (other / name).read_bytes(), name
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (local, other))
    for key in ("inputs", "read", "steps", "output", "reports"):
        assert without_timings(a[key]) == without_timings(b[key]), key
    assert b["config"]["executor"]["kind"] == "ray"


def on_ray(address: str, **params) -> list[str]:
    return ["executor.kind=ray", f"executor.address={address}", "executor.workers=null",
            *[f"executor.{k}={v}" for k, v in params.items()]]


@pytest.fixture(scope="module")
def quickstart_local(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quickstart") / "local"
    run_pipeline("quickstart.yaml", out, QUICKSTART)
    return out


def test_params_are_checked_with_the_file():
    for wrong, says in [("executor.max_retries=-1", "executor.max_retries: Input should be greater"),
                        ("executor.num_cpus=2", "num_cpus sizes a private Ray instance")]:
        with pytest.raises(ConfigError) as err:
            load_plan(str(ROOT / "pipelines" / "commoncrawl.yaml"), ["executor.kind=ray", "executor.address=auto", wrong])
        assert "commoncrawl.yaml:" in str(err.value) and says in str(err.value)
    plan = load_plan(str(ROOT / "pipelines" / "commoncrawl.yaml"), ["executor.kind=ray", "executor.address=auto"])
    assert plan.executor.max_retries == 3 and plan.executor.address == "auto"


@pytest.mark.slow
def test_quickstart_on_ray_equals_local(cluster, quickstart_local, tmp_path):
    address, _ = cluster
    manifest = run_pipeline("quickstart.yaml", tmp_path / "ray", QUICKSTART + on_ray(address))
    assert_same_run(quickstart_local, tmp_path / "ray")
    removed = {s["step"]: s["removed"] for s in manifest["steps"]}
    assert removed["3:dedup.exact"] and removed["7:dedup.minhash"]  # the global steps decided something


@pytest.fixture(scope="module")
def commoncrawl_local(tmp_path_factory) -> Path:
    """The pipeline file as it ships (input paths relative to the checkout), on the local executor."""
    out = tmp_path_factory.mktemp("commoncrawl") / "local"
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        run_pipeline("commoncrawl.yaml", out, [])
    finally:
        os.chdir(here)
    return out


@pytest.mark.slow
def test_commoncrawl_on_ray_equals_local(cluster, commoncrawl_local, tmp_path, monkeypatch):
    """The pipeline file as it ships, relative input paths and all: Ray's workers run in the driver's folder
    (a `ray start` node's workers start in the folder it was started in, here a temporary one)."""
    address, _ = cluster
    monkeypatch.chdir(ROOT)
    run_pipeline("commoncrawl.yaml", tmp_path / "ray", on_ray(address))
    assert_same_run(commoncrawl_local, tmp_path / "ray")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def kill_first_task(nodes: list[subprocess.Popen], killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first Ray worker process of `nodes` seen running a task (Ray titles it `ray::_run`)."""
    while not stop.is_set() and not killed:
        for pid in [p for node in nodes for p in descendants(node.pid)]:
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].strip()
            except OSError:
                continue
            if title == b"ray::_run":
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


@contextmanager
def killing_a_task(nodes: list[subprocess.Popen]):
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_first_task, args=(nodes, killed, stop), daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen running a task"


@pytest.mark.slow
def test_worker_killed_mid_task_is_retried_by_ray(cluster, quickstart_local, tmp_path):
    address, nodes = cluster
    with killing_a_task(nodes[1:]):  # the worker node's
        run_pipeline("quickstart.yaml", tmp_path / "ray", QUICKSTART + on_ray(address))
    assert_same_run(quickstart_local, tmp_path / "ray")


@pytest.mark.slow
def test_run_ended_by_a_dead_worker_is_finished_by_a_rerun(cluster, commoncrawl_local, tmp_path, monkeypatch):
    """No retries left: the run ends as a local run whose worker died (the CLI says: rerun), and the rerun
    skips the finished tasks and gives the same output."""
    from concurrent.futures.process import BrokenProcessPool

    address, nodes = cluster
    monkeypatch.chdir(ROOT)
    overrides = on_ray(address, max_retries=0)
    with killing_a_task(nodes), pytest.raises(BrokenProcessPool, match="worker died 1 time"):
        run_pipeline("commoncrawl.yaml", tmp_path / "ray", overrides)
    run_pipeline("commoncrawl.yaml", tmp_path / "ray", overrides)
    assert_same_run(commoncrawl_local, tmp_path / "ray")


@pytest.mark.slow
def test_a_task_error_reaches_the_driver_as_itself(cluster, tmp_path):
    address, _ = cluster
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(SAMPLE / "news-abc.jsonl.gz", data / "a.jsonl.gz")
    shutil.copy(SAMPLE / "books-botchan.jsonl.gz", data / "b.jsonl.gz")
    plan = load_plan(str(ROOT / "pipelines" / "quickstart.yaml"),
                     ["input.keep_columns=[]", f"input.paths=[{data}/*.jsonl.gz]", f"output.path={tmp_path / 'out'}",
                      *on_ray(address)])
    (data / "b.jsonl.gz").unlink()  # gone between planning and reading
    with pytest.raises(FileNotFoundError, match="b.jsonl.gz"):
        run(plan, progress=False)
