"""The `gristmill` command: load a YAML file and hand it to the package that does the work."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from rich.console import Console
from rich.table import Table

from provenance.yamlfile import ConfigError

console = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gristmill", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("run", help="run a curation pipeline")
    p.add_argument("pipeline")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. executor.workers=4")
    p.add_argument("--overwrite", action="count", default=0,
                   help="replace another gristmill run at output.path (twice: delete whatever is there)")
    p.set_defaults(func=cmd_run)

    p = verbs.add_parser("validate", help="check a pipeline file without reading any data")
    p.add_argument("pipeline")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_validate)

    p = verbs.add_parser("steps", help="list every step with its parameters and columns")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_steps)

    p = verbs.add_parser("inspect", help="schema, counts and a few rows of a run's output")
    p.add_argument("output")
    p.add_argument("--rows", type=int, default=3)
    p.set_defaults(func=cmd_inspect)

    p = verbs.add_parser("tokenize", help="curated Parquet -> per-source token shards (+ a BPE tokenizer)")
    p.add_argument("config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--overwrite", action="store_true", help="replace token shards made with another config")
    p.set_defaults(func=cmd_tokenize)

    p = verbs.add_parser("train", help="train a model on token shards by a train YAML (resumes if interrupted)")
    p.add_argument("config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--nproc", type=int, default=1, help="processes on this machine (torchrun; FSDP across them)")
    p.set_defaults(func=cmd_train)

    mix = verbs.add_parser("mix", help="choose a mixture: proxy sweep, mixing law, proposal, validation")
    mix_verbs = mix.add_subparsers(dest="mix_verb", required=True)
    for name, text in [("sweep", "draw mixtures and train one proxy per mixture (resumes)"),
                       ("fit", "k-fold scores of the mixing laws on the sweep (or on CSVs made elsewhere)"),
                       ("propose", "the best mixture under the caps -> a mixture YAML `gristmill train` reads"),
                       ("validate", "train held-out mixtures, the proposal and the baselines; write the report")]:
        p = mix_verbs.add_parser(name, help=text)
        p.add_argument("config", nargs="?" if name == "fit" else None)
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
        p.set_defaults(func=cmd_mix)
    fit = mix_verbs.choices["fit"]
    fit.add_argument("--mixtures", help="CSV of weights (index + one column per domain), e.g. RegMix's")
    fit.add_argument("--metrics", help="CSV of metrics (index + one column per metric)")
    fit.add_argument("--target", action="append", default=[], help="metric column to predict (repeatable)")
    fit.add_argument("--law", default="loglinear", choices=["loglinear", "lightgbm"])
    fit.add_argument("--folds", type=int, default=5)
    fit.add_argument("--out", default="out/mix")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args) or 0
    except ConfigError as err:
        for line in err.errors:
            console.print(f"[red]error[/red] {line}", highlight=False, soft_wrap=True)
        return 2


def cmd_validate(args) -> int:
    from curate.engine.plan import load_plan

    plan = load_plan(args.pipeline, args.overrides)
    steps = sum(len(s.all_steps) for s in plan.stages)
    console.print(f"{args.pipeline}: ok: {steps} steps in {len(plan.stages)} stage(s), "
                  f"{len(plan.files)} input file(s); output columns: {', '.join(plan.columns)}", highlight=False)
    return 0


def cmd_run(args) -> int:
    from curate.engine.errors import RunFailed
    from curate.engine.plan import load_plan
    from curate.engine.run import run

    logging.getLogger("gristmill").setLevel(logging.INFO)
    plan = load_plan(args.pipeline, args.overrides)
    try:
        manifest = run(plan, overwrite=args.overwrite)
    except BrokenProcessPool:
        console.print("[red]error[/red] a worker process died (killed, or out of memory); finished tasks are "
                      f"kept: rerun `gristmill run {args.pipeline}` to finish the rest", highlight=False)
        return 1
    except RunFailed as err:
        console.print(f"[red]error[/red] {err}", highlight=False, soft_wrap=True)
        return 1
    except OSError as err:  # disk full, permissions: finished tasks are kept, a rerun finishes the rest
        console.print(f"[red]error[/red] {err.strerror or err}: {err.filename or plan.config.output.path}; "
                      f"finished tasks are kept: rerun `gristmill run {args.pipeline}` once it is fixed",
                      highlight=False, soft_wrap=True)
        return 1
    _print_summary(manifest)
    return 0


def _print_summary(manifest) -> None:
    table = Table(title=f"{manifest.name}: {manifest.output.path}")
    for col in ("step", "docs in", "docs out", "MB out", "removed", "s"):
        table.add_column(col, justify="left" if col in ("step", "removed") else "right")
    read = manifest.read
    problems = "\n".join(f"{v:,} {k}" for k, v in read.skipped.items())
    table.add_row("read", "", f"{read.docs:,}", f"{read.bytes / 1e6:.2f}", problems, "")
    for s in manifest.steps:
        removed = "\n".join(f"{v:,} {k}" for k, v in sorted(s.removed.items(), key=lambda kv: -kv[1]))
        counted = "\n".join(f"{v:,} {k}" for k, v in sorted(s.counters.items()))
        table.add_row(s.step, f"{s.docs_in:,}", f"{s.docs_out:,}", f"{s.bytes_out / 1e6:.2f}",
                      "\n".join(x for x in (removed, counted) if x), f"{s.seconds:.2f}")
    console.print(table)


def cmd_tokenize(args) -> int:
    from provenance.yamlfile import load
    from train.tokenize import TokenizeConfig, tokenize

    tokenize(load(args.config, TokenizeConfig, args.overrides), overwrite=args.overwrite,
             progress=lambda line: console.print(line, highlight=False))
    return 0


def cmd_train(args) -> int:
    from train.config import load_train_config

    cfg = load_train_config(args.config, args.overrides)  # errors surface before any process starts
    if args.nproc > 1 and "LOCAL_RANK" not in os.environ:
        sets = [a for s in args.overrides for a in ("--set", s)]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                   "-m", "pipelines.cli", "train", args.config, *sets]
        return subprocess.call(command)
    from train.trainer import train

    result = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        console.print(f"trained {result.steps} steps, {result.tokens:,} tokens; final loss {result.final_loss:.4f}; "
                      f"outputs in {result.out}", highlight=False)
    return 0


def cmd_mix(args) -> int:
    from mixing import api
    from mixing.proxies import ProxyFailed

    logging.getLogger("gristmill").setLevel(logging.INFO)
    if args.mix_verb == "fit" and args.config is None:
        if not (args.mixtures and args.metrics and args.target):
            raise ConfigError(["mix fit: give a mix YAML, or --mixtures, --metrics and --target"])
        api.fit_csv(args.mixtures, args.metrics, args.target, out=args.out, law=args.law, folds=args.folds)
        return 0
    try:
        if args.mix_verb == "sweep":
            console.print(f"proxies and metrics in {api.sweep(args.config, args.overrides)}", highlight=False)
        elif args.mix_verb == "fit":
            api.fit(args.config, args.overrides)
        elif args.mix_verb == "propose":
            console.print(f"proposed mixture: {api.propose(args.config, args.overrides)}", highlight=False)
        else:
            console.print(f"report: {api.validate(args.config, args.overrides)}", highlight=False)
    except ProxyFailed as err:
        console.print(f"[red]error[/red] {err}", highlight=False)
        return 1
    return 0


def cmd_steps(args) -> int:
    from curate.engine.step import all_steps

    rows = []
    for name, cls in all_steps().items():
        params = {k: {"type": _type_name(f.annotation), "default": None if f.is_required() else f.default,
                      "required": f.is_required()} for k, f in cls.Params.model_fields.items()}
        rows.append({"name": name, "kind": cls.__mro__[1].__name__, "doc": (cls.__doc__ or "").strip(),
                     "params": params, "needs": {k: str(v) for k, v in cls.needs.items()},
                     "adds": {k: str(v) for k, v in cls.adds.items()}})
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    out = Console()
    for r in rows:
        out.print(f"[bold]{r['name']}[/bold] ({r['kind']}): {r['doc']}", highlight=False)
        for k, p in r["params"].items():
            default = "required" if p["required"] else f"default {p['default']!r}"
            out.print(f"    {k}: {p['type']} ({default})", highlight=False)
        out.print(f"    needs: {', '.join(r['needs']) or '-'}   adds: {', '.join(r['adds']) or '-'}", highlight=False)
    return 0


def _type_name(annotation) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def cmd_inspect(args) -> int:
    import polars as pl

    from provenance.manifest import RunManifest

    folder = Path(args.output)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise ConfigError([f"{folder}: no manifest.json here; is it a finished gristmill run?"])
    manifest = RunManifest.load(manifest_path)
    shards = [folder / s.name for s in manifest.output.shards]
    out = Console()
    out.print(f"[bold]{manifest.name}[/bold]  config {manifest.config_hash[:12]}  "
              f"{manifest.output.docs:,} docs in {len(shards)} shard(s)", highlight=False)
    if not shards:
        return 0
    if manifest.output.format == "parquet":
        frame = pl.scan_parquet(shards)
    else:
        frame = pl.concat([pl.read_ndjson(s).lazy() for s in shards], how="vertical_relaxed")
    schema = frame.collect_schema()
    out.print("columns: " + ", ".join(f"{k}: {v}" for k, v in schema.items()), highlight=False)
    by_source = frame.group_by("source").agg(pl.len().alias("docs"),
                                             pl.col("text").str.len_bytes().sum().alias("bytes")).sort("source")
    out.print(by_source.collect())
    for row in frame.head(args.rows).select("id", "source", "text").collect().iter_rows(named=True):
        text = row["text"][:200].replace("\n", " ")
        out.print(f"- {row['id']} [{row['source']}] {text}…", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
