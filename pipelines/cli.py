"""The `gristmill` command: load a YAML file and hand it to the package that does the work."""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import re
import sys
import textwrap
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from rich.console import Console

from provenance.yamlfile import ConfigError

console = Console(stderr=True)
SET_HELP = "override a config value, e.g. executor.workers=4 (repeatable)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args) or 0
    except ConfigError as err:
        for line in err.errors:
            console.print(f"[red]error[/red] {line}", highlight=False, soft_wrap=True)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gristmill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gristmill {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("run", help="run a curation pipeline")
    p.add_argument("pipeline", help="a pipeline YAML (pipelines/quickstart.yaml is one)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=SET_HELP)
    p.add_argument("--overwrite", action="count", default=0,
                   help="replace another gristmill run at output.path (twice: delete whatever is there)")
    p.set_defaults(func=cmd_run)

    p = verbs.add_parser("validate", help="check a YAML file (pipeline, tokenize, train, mixture, mix) without reading data")
    p.add_argument("pipeline", help="the YAML file to check")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.set_defaults(func=cmd_validate)

    p = verbs.add_parser("steps", help="list every step and reader with its parameters and columns")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_steps)

    p = verbs.add_parser("inspect", help="schema, counts and a few rows of a run's output")
    p.add_argument("output", help="a run's output folder (curation, tokenize or train)")
    p.add_argument("--rows", type=int, default=3, help="documents to show (curation output)")
    p.set_defaults(func=cmd_inspect)

    p = verbs.add_parser("trace", help="where one document of a run came from and what the run did to it")
    p.add_argument("run", help="a curation run's output folder")
    p.add_argument("id", help="the document's id (kept or removed)")
    p.set_defaults(func=cmd_trace)

    p = verbs.add_parser("card", help="a data card (md, html, Croissant, EU AI Act summary) for run folders")
    p.add_argument("runs", nargs="+", type=Path, help="curation, tokenize or train output folders")
    p.add_argument("--out", type=Path, default=Path("out/card"), help="where the card's files go")
    p.set_defaults(func=cmd_card)

    p = verbs.add_parser("tokenize", help="curated Parquet -> per-source token shards (+ a BPE tokenizer)")
    p.add_argument("config", help="a tokenize YAML (pipelines/tokenize.yaml is one)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace token shards made with another config")
    p.set_defaults(func=cmd_tokenize)

    p = verbs.add_parser("train", help="train a model on token shards by a train YAML (resumes if interrupted)")
    p.add_argument("config", help="a train YAML (pipelines/train_tiny.yaml is one)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.add_argument("--nproc", type=int, default=1, help="processes on each machine (torchrun; FSDP across them)")
    p.add_argument("--nnodes", type=int, default=1, help="machines; prints each one's torchrun command")
    p.add_argument("--node-rank", type=int, help="this machine's place (0..nnodes-1): runs its part here")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the nodes meet (c10d store on HOST)")
    p.set_defaults(func=cmd_train)

    mix = verbs.add_parser("mix", help="choose a mixture: proxy sweep, mixing law, proposal, validation")
    mix_verbs = mix.add_subparsers(dest="mix_verb", required=True)
    for name, text in [("sweep", "draw mixtures and train one proxy per mixture (resumes)"),
                       ("fit", "k-fold scores of the mixing laws on the sweep (or on CSVs made elsewhere)"),
                       ("propose", "the best mixture under the caps -> a mixture YAML `gristmill train` reads"),
                       ("validate", "train held-out mixtures, the proposal and the baselines; write the report"),
                       ("predict", "fit a law on a swarm's CSVs and predict the objective of other mixtures (a CSV)")]:
        p = mix_verbs.add_parser(name, help=text)
        if name != "predict":
            p.add_argument("config", nargs="?" if name == "fit" else None, help="a mix YAML (pipelines/mix.yaml is one)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
        p.set_defaults(func=cmd_mix)
    mix_verbs.choices["propose"].add_argument("--force", action="store_true",
                                              help="propose even where the law ranks held-out proxies poorly")
    for name in ("fit", "predict"):
        fit = mix_verbs.choices[name]
        fit.add_argument("--mixtures", required=name == "predict",
                         help="CSV of the swarm's weights (index + one column per domain), e.g. RegMix's")
        fit.add_argument("--metrics", required=name == "predict", help="CSV of metrics (index + one column per metric)")
        fit.add_argument("--target", action="append", default=[], help="metric column to predict (repeatable: their mean)")
        fit.add_argument("--law", default="loglinear", choices=["loglinear", "lightgbm"], help="the mixing law to fit")
        fit.add_argument("--folds", type=int, default=5, help="k of the k-fold scores")
        fit.add_argument("--out", default="out/mix", help="folder for the report or predictions.csv")
    mix_verbs.choices["predict"].add_argument("--candidates", required=True,
                                              help="CSV of the mixtures to predict (same domain columns)")

    quality = verbs.add_parser("quality", help="fastText quality classifiers")
    p = quality.add_subparsers(dest="quality_verb", required=True).add_parser(
        "train", help="train a quality model + its card by a YAML (pipelines/quality_train.yaml)")
    p.add_argument("config", help="a quality training YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.set_defaults(func=cmd_quality)

    return parser


def cmd_validate(args) -> int:
    """Check any gristmill YAML with the model of its kind, recognised by its keys."""
    from provenance.yamlfile import load_yaml

    kind = yaml_kind(load_yaml(args.pipeline).data)
    if kind == "pipeline":
        from curate.engine.plan import load_plan

        plan = load_plan(args.pipeline, args.overrides)
        summary = (f"{sum(len(s.all_steps) for s in plan.stages)} steps in {len(plan.stages)} stage(s), "
                   f"{len(plan.files)} input file(s); output columns: {', '.join(plan.columns)}")
    elif kind == "tokenize":
        from provenance.yamlfile import load
        from train.tokenize import TokenizeConfig, input_files

        try:
            summary = f"{len(input_files(load(args.pipeline, TokenizeConfig, args.overrides)))} input file(s)"
        except ConfigError as err:
            raise ConfigError([e if e.startswith(args.pipeline) else f"{args.pipeline}: {e}" for e in err.errors]) from None
    elif kind == "train":
        from train.config import load_train_config

        cfg = load_train_config(args.pipeline, args.overrides)
        summary = f"{len(cfg.stages)} stage(s): {', '.join(s.name for s in cfg.stages)}"
    elif kind == "mixture":
        from provenance.yamlfile import apply_overrides, validate
        from train.config import mixture_errors
        from train.data import MixtureConfig

        doc = load_yaml(args.pipeline)
        apply_overrides(doc, args.overrides)
        mixture = validate(doc, MixtureConfig)
        if errors := mixture_errors(mixture, doc, ()):
            raise ConfigError(errors)
        summary = f"{len(mixture.weights)} source(s) from {mixture.tokens}"
    elif kind == "quality":
        from curate.quality.config import load_config

        cfg = load_config(args.pipeline, args.overrides)
        summary = f"{len(cfg.sources)} labelled source(s) -> {cfg.output or cfg.name}"
    else:
        from mixing.config import load_plan as load_mix

        summary = f"{len(load_mix(args.pipeline, args.overrides).domains.names)} domain(s)"
    console.print(f"{args.pipeline}: ok ({kind}): {summary}", highlight=False, soft_wrap=True)
    return 0


def yaml_kind(data: dict) -> str:
    """Which kind of gristmill YAML `data` is, by its keys (a pipeline when nothing else fits, so that its
    errors name what a pipeline needs)."""
    keys = set(data)
    if "stages" in keys:
        return "train"
    if "inputs" in keys:
        return "tokenize"
    if "weights" in keys:
        return "mixture"
    if keys & {"sweep", "prior", "target", "caps"}:
        return "mix"
    if "sources" in keys and "steps" not in keys:
        return "quality"
    return "pipeline"


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
    """The run's steps, one line each, with what each removed on the lines below: fits 80 columns."""
    out = Console(stderr=True, width=min(console.width, 100), highlight=False)
    read, name_width = manifest.read, max([len(s.step) for s in manifest.steps] + [4])
    out.print(f"[bold]{manifest.name}[/bold]: {manifest.output.docs:,} of {read.docs:,} documents kept, "
              f"{manifest.seconds:.1f} s -> {manifest.output.path}")
    out.print(f"{'step':<{name_width}} {'docs in':>10} {'docs out':>10} {'MB out':>8} {'s':>7}", style="dim")
    out.print(f"{'read':<{name_width}} {'':>10} {read.docs:>10,} {read.bytes / 1e6:>8.2f}")
    _print_counts(out, "skipped", read.skipped)
    for s in manifest.steps:
        out.print(f"{s.step:<{name_width}} {s.docs_in:>10,} {s.docs_out:>10,} {s.bytes_out / 1e6:>8.2f} {s.seconds:>7.2f}")
        _print_counts(out, "removed", s.removed)
        _print_counts(out, "counted", s.counters)


def _print_counts(out: Console, label: str, counts: dict[str, int]) -> None:
    if counts:
        items = ", ".join(f"{n:,}\xa0{k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))  # kept together
        out.print(textwrap.fill(items, width=out.width - 2, initial_indent=f"  {label}: ",
                                subsequent_indent=" " * (len(label) + 4)).replace("\xa0", " "), soft_wrap=True)


def cmd_tokenize(args) -> int:
    from curate.executors.local import LocalExecutor, LocalParams
    from provenance.yamlfile import load
    from train.tokenize import TokenizeConfig, tokenize

    cfg = load(args.config, TokenizeConfig, args.overrides)
    tokenize(cfg, LocalExecutor(LocalParams(workers=cfg.workers)), overwrite=args.overwrite,
             progress=lambda line: console.print(line, highlight=False))
    return 0


def cmd_train(args) -> int:
    from train.config import load_train_config
    from train.launch import Launch, job_id, launch

    cfg = load_train_config(args.config, args.overrides)  # errors surface before any process starts
    plan = Launch(args.nproc, args.nnodes, args.node_rank, args.rdzv_endpoint, job_id(args.config, *args.overrides))
    if plan.distributed and "LOCAL_RANK" not in os.environ:
        sets = [a for s in args.overrides for a in ("--set", s)]
        return launch(plan, ["-m", "pipelines.cli", "train", args.config, *sets])
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
    if args.mix_verb == "predict":
        if not args.target:
            raise ConfigError(["mix predict: give --target (a metric column of --metrics)"])
        path, scores = api.predict_csv(args.mixtures, args.metrics, args.target, args.candidates, out=args.out,
                                       law=args.law, folds=args.folds)
        console.print(f"predictions in {path}; the law's {args.folds}-fold Spearman on the swarm "
                      f"{scores['spearman']:.3f}, MAE {scores['mae']:.4g}", highlight=False)
        return 0
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
            console.print(f"proposed mixture: {api.propose(args.config, args.overrides, args.force)}",
                          highlight=False)
        else:
            console.print(f"report: {api.validate(args.config, args.overrides)}", highlight=False)
    except ProxyFailed as err:
        console.print(f"[red]error[/red] {err}", highlight=False)
        return 1
    except BrokenProcessPool:
        console.print("[red]error[/red] a proxy's worker process died (killed, or out of memory); finished "
                      f"proxies are kept: rerun `gristmill mix {args.mix_verb}` to train the rest", highlight=False)
        return 1
    return 0


def cmd_quality(args) -> int:
    from curate.quality.train import train_file

    folder = train_file(args.config, args.overrides)
    heldout = json.loads((folder / "card.json").read_text())["heldout"]
    console.print(f"model and card in {folder}: held-out precision {heldout['precision']}, recall "
                  f"{heldout['recall']}, ROC-AUC {heldout['roc_auc']}", highlight=False, soft_wrap=True)
    return 0


def cmd_trace(args) -> int:
    from provenance.trace import trace

    for line in trace(args.run, args.id):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return 0


def cmd_card(args) -> int:
    from provenance.card import build_card

    written = build_card(args.runs, args.out)
    console.print(f"card: {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)
    return 0


def cmd_steps(args) -> int:
    from curate.engine.reader import READERS
    from curate.engine.step import all_steps

    def described(cls) -> list[dict]:
        return [{"name": name, "kind": c.__mro__[1].__name__, "doc": (c.__doc__ or "").strip(),
                 "params": _params(c.Params), "needs": {k: str(v) for k, v in getattr(c, "needs", {}).items()},
                 "adds": {k: str(v) for k, v in getattr(c, "adds", {}).items()}} for name, c in cls.items()]

    rows = described(all_steps()) + described(READERS.all())
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    out = Console(highlight=False)
    for r in rows:
        out.print(f"[bold]{r['name']}[/bold] ({r['kind']}): {r['doc']}")
        for k, p in r["params"].items():
            default = "required" if p["required"] else f"default {p['default']!r}"
            out.print(f"    {k}: {p['type']} ({default})" + (f": {p['doc']}" if p["doc"] else ""))
        if r["kind"] != "Reader":
            out.print(f"    needs: {', '.join(r['needs']) or '-'}   adds: {', '.join(r['adds']) or '-'}")
    return 0


def _params(model) -> dict[str, dict]:
    """A params model's fields: type, default, and what each means (its description, else the comment
    after it in the source)."""
    comments = {}
    for cls in reversed(model.__mro__):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            found = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
            if found:
                comments[found.group(1)] = found.group(2).strip()
    return {k: {"type": _type_name(f.annotation), "default": None if f.is_required() else f.default,
                "required": f.is_required(), "doc": f.description or comments.get(k, "")}
            for k, f in model.model_fields.items() if k != "reader"}


def _type_name(annotation) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def cmd_inspect(args) -> int:
    from pipelines.outputs import inspect_output

    return inspect_output(Path(args.output), args.rows)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("gristmill")
    except metadata.PackageNotFoundError:
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
