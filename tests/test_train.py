"""Tokenizing, the mixture loader, the trainer (loss, FSDP, resume), export, and the provenance chain
from a trained model back to the curated runs, on real sample text."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from curate.engine.executor import complete
from curate.executors.local import LocalExecutor, LocalParams
from provenance.yamlfile import ConfigError
from tests.conftest import ROOT, SAMPLE
from train.config import TrainConfig
from train.data import MixtureConfig, MixtureIndex, MixtureLoader, read_meta
from train.tokenize import TokenizeConfig, tokenize

SOURCES = ["books/gutenberg", "code/python-stdlib", "news/abc", "web/wikipedia"]


def curated_parquet(folder: Path) -> list[str]:
    """The sample corpus as Parquet shards, one per source file, as a curation run writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, f in enumerate(sorted(SAMPLE.glob("*.jsonl.gz"))):
        frame = pl.read_ndjson(f).with_row_index("row").with_columns(
            id=pl.lit(f.name) + ":" + pl.col("row").cast(pl.String)).select("id", "text", "source")
        frame = frame.filter(pl.col("text").str.len_bytes() < 60_000)  # keep the fixture small
        paths.append(str(folder / f"part-{i:05d}.parquet"))
        frame.write_parquet(paths[-1])
    return paths


def local(workers: int) -> LocalExecutor:
    """The executor `gristmill tokenize` runs its tasks on."""
    return LocalExecutor(LocalParams(workers=workers))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tok")
    curated_parquet(root / "curated")
    cfg = TokenizeConfig(inputs=[str(root / "curated" / "*.parquet")], output=str(root / "tokens"),
                         tokenizer={"vocab_size": 2048, "sample_mb": 4}, validation_fraction=0.05)
    tokenize(cfg, local(2), progress=lambda _: None)
    return root / "tokens"


def mixture(tokens: Path, **kw) -> MixtureConfig:
    weights = kw.pop("weights", {"web/wikipedia": 0.5, "code/python-stdlib": 0.3, "books/gutenberg": 0.2})
    return MixtureConfig(tokens=str(tokens), weights=weights, **kw)


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_config(tokens: Path, out: Path, **kw) -> dict:
    cfg = {"out": str(out), "model": {"size": "tiny"}, "seq_len": 64, "micro_batch": 4, "grad_accum": 2,
           "stages": [{"name": "main", "mixture": mixture(tokens).model_dump(), "tokens": 64 * 8 * 30,
                       "lr": {"peak": 3e-3, "min": 3e-4, "warmup_steps": 5}}],
           "eval": {"every": 0, "max_tokens_per_source": 2048}, "log_every": 100, "export": False}
    cfg.update(kw)
    return cfg


# --- tokenize --------------------------------------------------------------------------------------


def test_tokenize_writes_shards_a_tokenizer_and_counts(tokens: Path):
    meta = read_meta(tokens)
    assert meta["dtype"] == "uint16" and meta["vocab_size"] <= 2048
    for source in SOURCES:
        entry = meta["sources"][source]
        for split in ("train", "val"):
            bins = sorted((tokens / entry["dir"] / split).glob("*.bin"))
            assert bins, (source, split)  # every source has held-out documents
            ids = np.concatenate([np.fromfile(b, dtype=np.uint16) for b in bins])
            ends = np.concatenate([np.load(b.with_suffix(".idx")) + 0 for b in bins[:1]])
            assert len(ids) == entry[split]["tokens"]
            assert ids[ends[0] - 1] == meta["eos_id"]  # each document ends in EOS
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokens / "tokenizer"))
    text = "It is a truth universally acknowledged, that a single man"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_tokenize_is_deterministic_and_independent_of_workers(tokens: Path, tmp_path: Path):
    cfg = TokenizeConfig(inputs=[str(tokens.parent / "curated" / "*.parquet")], output=str(tmp_path / "t1"),
                         tokenizer={"path": str(tokens / "tokenizer")}, validation_fraction=0.05)
    tokenize(cfg, local(1), progress=lambda _: None)
    for b in sorted(tokens.rglob("*.bin")):
        assert b.read_bytes() == (tmp_path / "t1" / b.relative_to(tokens)).read_bytes()


def test_tokenize_resumes_after_a_crash_and_refuses_another_config(tokens: Path, tmp_path: Path):
    cfg = TokenizeConfig(inputs=[str(tokens.parent / "curated" / "*.parquet")], output=str(tmp_path / "t"),
                         tokenizer={"path": str(tokens / "tokenizer")}, validation_fraction=0.05)

    class KilledAtTheThirdTask:
        def run(self, title, tasks, docs):
            for task in tasks[:2]:
                complete(task)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tokenize(cfg, KilledAtTheThirdTask(), progress=lambda _: None)
    messages = []
    tokenize(cfg, local(2), progress=messages.append)
    assert "tokenizing 3 of 5 files" in messages[0]
    for b in sorted(tokens.rglob("*.bin")):
        assert b.read_bytes() == (tmp_path / "t" / b.relative_to(tokens)).read_bytes()
    tokenize(cfg, local(2), progress=messages.append)
    assert "already tokenized" in messages[-1]
    with pytest.raises(ConfigError, match="another config"):
        tokenize(cfg.model_copy(update={"validation_fraction": 0.2}), local(2), progress=lambda _: None)


def test_tokenize_names_a_missing_column(tmp_path: Path):
    pl.DataFrame({"body": ["x"]}).write_parquet(tmp_path / "a.parquet")
    cfg = TokenizeConfig(inputs=[str(tmp_path / "a.parquet")], output=str(tmp_path / "t"))
    with pytest.raises(ConfigError, match="no column text, source"):
        tokenize(cfg, local(1))


# --- the mixture ---------------------------------------------------------------------------------


def test_mixture_hits_its_weights_within_sampling_error(tokens: Path):
    ix = MixtureIndex(mixture(tokens), seq_len=64, n_samples=2000)
    assert list(ix.counts) == [400, 600, 1000]  # exact shares of the whole run (sorted sources)
    first = ix.source_of[:500]  # any prefix is a random draw with those shares
    for k, w in enumerate(ix.weights):
        share = (first == k).mean()
        assert abs(share - w) < 4 * math.sqrt(w * (1 - w) / 500)


def test_mixture_is_seeded(tokens: Path):
    a = MixtureIndex(mixture(tokens, seed=1), 64, 500)
    b = MixtureIndex(mixture(tokens, seed=1), 64, 500)
    c = MixtureIndex(mixture(tokens, seed=2), 64, 500)
    assert (a.source_of == b.source_of).all() and (a.window_of == b.window_of).all()
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert not (a.window_of == c.window_of).all()


def test_mixture_refuses_to_repeat_a_source_past_its_cap_and_never_exceeds_it(tokens: Path):
    windows = (read_meta(tokens)["sources"]["books/gutenberg"]["train"]["tokens"] - 1) // 64
    with pytest.raises(ConfigError, match=r"books/gutenberg: weight 0.5000 asks for .* epochs .* cap of 2"):
        MixtureIndex(mixture(tokens, weights={"books/gutenberg": 0.5, "web/wikipedia": 0.5}, max_epochs=2),
                     64, n_samples=windows * 5)
    ix = MixtureIndex(mixture(tokens, weights={"books/gutenberg": 0.5, "web/wikipedia": 0.5},
                              max_epochs={"books/gutenberg": 3}), 64, n_samples=windows * 5)
    k = ix.sources.index("books/gutenberg")
    used = np.bincount(ix.window_of[ix.source_of == k], minlength=windows)
    assert used.max() <= 3 and used.min() >= 2  # whole epochs first, never more than the cap


def test_mixture_unknown_source_is_named(tokens: Path):
    with pytest.raises(ConfigError, match="web/nope not in"):
        MixtureIndex(mixture(tokens, weights={"web/nope": 1.0}), 64, 10)


def test_loader_gives_every_sample_once_for_any_number_of_ranks(tokens: Path):
    ix = MixtureIndex(mixture(tokens), 64, n_samples=96)

    def rows(world: int, accum: int) -> list[bytes]:
        loaders = [MixtureLoader(ix, micro_batch=4, grad_accum=accum, rank=r, world=world) for r in range(world)]
        out = []
        for step in range(loaders[0].steps):
            for micro in range(accum):
                for loader in loaders:
                    x, y, _ = loader.batch(step, micro)
                    assert (x[:, 1:] == y[:, :-1]).all()
                    out += [bytes(r.numpy()) for r in x]
        return out

    one = rows(1, 4)
    assert rows(2, 2) == one and rows(4, 1) == one  # same samples in the same order of the global batch


# --- training ------------------------------------------------------------------------------------


def run_train(cfg: dict, tmp_path: Path, nproc: int = 1, wait: bool = True):
    path = tmp_path / f"train-{nproc}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pipelines.cli", "train", str(path), "--nproc", str(nproc)]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def losses(out: Path) -> list[float]:
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_loss_falls_and_the_export_loads_in_transformers_with_equal_logits(precision, tokens: Path, tmp_path: Path):
    """In both precisions (bf16 on CPU is autocast: fp32 parameters, bf16 matmuls)."""
    from train.trainer import train

    cfg = TrainConfig.model_validate(train_config(tokens, tmp_path / "run", export=True, precision=precision))
    result = train(cfg)
    curve = losses(tmp_path / "run")
    assert result.steps == 30 and len(curve) == 30
    assert np.mean(curve[-5:]) < np.mean(curve[:5]) - 0.6, curve
    assert set(result.val) == set(read_meta(tokens)["sources"])
    assert all(v["loss"] < math.log(2048) and v["bpb"] > 0 for v in result.val.values())

    from transformers import LlamaForCausalLM

    from train.checkpoint import latest
    from train.kernels import get_kernels
    from train.model import Transformer, model_config

    hf = LlamaForCausalLM.from_pretrained(str(tmp_path / "run" / "hf")).eval()
    ours = Transformer(model_config("tiny", vocab_size=hf.config.vocab_size), get_kernels("torch")).eval()
    import torch.distributed.checkpoint as dcp

    state = {"model": ours.state_dict()}
    dcp.load(state, checkpoint_id=latest(tmp_path / "run" / "checkpoints"))
    ids = torch.randint(0, hf.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, ours(ids), rtol=1e-4, atol=1e-4)


def test_a_rerun_of_a_finished_run_reports_its_last_loss(tokens: Path, tmp_path: Path):
    """`make demo` run twice: the second run trains nothing and reports the loss the run ended with."""
    from train.trainer import train

    stages = [{"name": "main", "mixture": mixture(tokens).model_dump(), "tokens": 64 * 8 * 2, "lr": {"peak": 3e-3}}]
    cfg = TrainConfig.model_validate(train_config(tokens, tmp_path / "run", stages=stages))
    first = train(cfg)
    again = train(cfg)
    assert again.steps == first.steps == 2 and len(losses(tmp_path / "run")) == 2
    assert again.final_loss == first.final_loss == losses(tmp_path / "run")[-1]


def test_provenance_chain_walks_from_the_trained_model_back_to_the_curated_run(tokens: Path, tmp_path: Path):
    """summary.json -> the tokenize output's meta.json -> the curation run's manifest.json, each link the
    sha256 of the very file it names; an input with no manifest beside it is listed as such."""
    from train.trainer import train

    curated = tmp_path / "curated"
    paths = curated_parquet(curated)
    (curated / "manifest.json").write_text(json.dumps({"name": "sample", "config_hash": "c0ffee", "steps": []}))
    loose = tmp_path / "loose" / "extra.parquet"  # not written by a curation run
    loose.parent.mkdir()
    shutil.copy(paths[0], loose)
    tokenize(TokenizeConfig(inputs=[str(curated / "*.parquet"), str(loose)], output=str(tmp_path / "tokens"),
                            tokenizer={"path": str(tokens / "tokenizer")}, validation_fraction=0.05),
             local(1), progress=lambda _: None)
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump(mixture(tmp_path / "tokens").model_dump()))
    stages = [{"name": "main", "mixture": str(mix), "tokens": 64 * 8 * 2, "lr": {"peak": 3e-3}}]
    train(TrainConfig.model_validate(train_config(tmp_path / "tokens", tmp_path / "run", stages=stages)))

    [stage] = json.loads((tmp_path / "run" / "summary.json").read_text())["inputs"]
    assert stage["mixture"] == {"path": str(mix), "sha256": sha256(mix)}
    assert stage["weights"] == pytest.approx({"books/gutenberg": 0.2, "code/python-stdlib": 0.3, "web/wikipedia": 0.5})
    meta_path = Path(stage["tokens"]["path"]) / "meta.json"
    assert stage["tokens"]["meta_sha256"] == sha256(meta_path)
    meta = json.loads(meta_path.read_text())
    manifest = str(curated / "manifest.json")
    assert meta["curated_runs"] == [{"manifest": manifest, "sha256": sha256(manifest), "name": "sample",
                                     "config_hash": "c0ffee"}]
    assert [(i["path"], i["manifest"]) for i in meta["inputs"]] == [(p, manifest) for p in paths] + [(str(loose), None)]
    assert all(i["sha256"] == sha256(i["path"]) and i["bytes"] == os.path.getsize(i["path"]) for i in meta["inputs"])


def test_config_errors_name_the_key(tokens: Path, tmp_path: Path):
    cfg = train_config(tokens, tmp_path / "run")
    cfg["stages"][0]["lr"]["peak"] = -1
    cfg["stages"][0]["tokens"] = 10  # fewer than one step
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "train", str(path)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "stages.0.lr.peak" in done.stderr


@pytest.fixture(scope="module")
def one_process_losses(tokens: Path, tmp_path_factory) -> list[float]:
    """One eager process, 2 accumulation steps of 4: the reference both FSDP variants are held to."""
    folder = tmp_path_factory.mktemp("one")
    run_train(train_config(tokens, folder / "one", micro_batch=4, grad_accum=2, precision="fp32"), folder)
    return losses(folder / "one")


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"compile": True, "activation_checkpointing": True}],
                         ids=["eager", "compiled-checkpointed"])
def test_two_process_fsdp_matches_one_process(options: dict, one_process_losses: list[float], tokens: Path,
                                              tmp_path: Path):
    """FSDP2 on 2 processes against 1 eager process; also with the GPU recipe's torch.compile per block and
    activation checkpointing inside FSDP, as train_1b.yaml runs them (measured: within 2e-7)."""
    two = train_config(tokens, tmp_path / "two", micro_batch=4, grad_accum=1, precision="fp32",  # global batch 8
                       **options)
    run_train(two, tmp_path, nproc=2)
    np.testing.assert_allclose(losses(tmp_path / "two"), one_process_losses, rtol=1e-4)


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_losses(tokens: Path, tmp_path: Path):
    cfg = train_config(tokens, tmp_path / "whole", checkpoint={"every": 5, "keep": 2})
    steps = 60  # long enough after the second checkpoint to be killed before the end on a fast machine
    cfg["stages"][0]["tokens"] = 64 * 8 * steps
    run_train(cfg, tmp_path)
    cfg["out"] = str(tmp_path / "killed")
    proc = run_train(cfg, tmp_path, wait=False)
    deadline = time.time() + 300

    def second_checkpoint() -> bool:  # step 10 or later: with keep 2, step 10 itself may already be gone
        return any(int(p.name.split("-")[1]) >= 10 for p in (tmp_path / "killed" / "checkpoints").glob("step-*[0-9]"))

    while not second_checkpoint():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its second checkpoint"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(losses(tmp_path / "killed")) < steps
    run_train(cfg, tmp_path)
    np.testing.assert_allclose(losses(tmp_path / "killed"), losses(tmp_path / "whole"), rtol=1e-6)


@pytest.mark.slow
def test_the_ready_pipelines_run_end_to_end_from_the_cli(tmp_path: Path):
    """pipelines/code.yaml -> tokenize.yaml -> train_tiny.yaml, as `make demo` runs them (smaller budgets)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    cli("run", "pipelines/code.yaml", "--set", f"output.path={tmp_path}/code")
    cli("run", "pipelines/quickstart.yaml", "--set", f"output.path={tmp_path}/quickstart")
    cli("tokenize", "pipelines/tokenize.yaml", "--set", f"output={tmp_path}/tokens", "--set",
        f"inputs=[{tmp_path}/code/*.parquet, {tmp_path}/quickstart/*.parquet]", "--set", "tokenizer.vocab_size=2048")
    runs = json.loads((tmp_path / "tokens" / "meta.json").read_text())["curated_runs"]
    assert [r["name"] for r in runs] == ["code", "quickstart"]
    for run in runs:  # each names the manifest the curation run wrote, by its bytes
        assert run["sha256"] == sha256(run["manifest"])
        assert run["config_hash"] == json.loads(Path(run["manifest"]).read_text())["config_hash"]
    mixture = {"tokens": str(tmp_path / "tokens"), "weights": {"code/python-stdlib": 0.5, "web/wikipedia": 0.5}}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mixture))
    anneal = {**mixture, "weights": {"books/gutenberg": 1.0}}
    (tmp_path / "anneal.yaml").write_text(yaml.safe_dump(anneal))
    log = cli("train", "pipelines/train_tiny.yaml", "--set", f"out={tmp_path}/train", "--set",
              f"stages.0.mixture={tmp_path}/mix.yaml", "--set", "stages.0.tokens=65536", "--set",
              f"stages.1.mixture={tmp_path}/anneal.yaml", "--set", "stages.1.tokens=16384")
    assert "stage main: 16 steps" in log and "stage anneal: 4 steps" in log
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["tokens_by_source"]["books/gutenberg"] == 16384
    assert [(s["stage"], s["mixture"]["sha256"], s["tokens"]["meta_sha256"]) for s in summary["inputs"]] == [
        (name, sha256(tmp_path / f"{name_file}.yaml"), sha256(tmp_path / "tokens" / "meta.json"))
        for name, name_file in (("main", "mix"), ("anneal", "anneal"))]
    assert (tmp_path / "train" / "hf" / "model.safetensors").is_file()


def test_the_throughput_benchmark_runs_on_cpu():
    """benchmarks/train_throughput.py builds both sides as the trainer does (guards the GPU script's code path)."""
    done = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--sizes", "tiny", "--seq", "32",
                           "--batch", "2", "--steps", "1", "--warmup", "1", "--vocab", "512", "--repeat", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "| tiny |" in done.stdout, done.stdout + done.stderr
