"""The CLI as a new user meets it: every YAML kind validated with file:line errors, a readable end-of-run
summary at 80 columns, inspect on every kind of output, --version and help for every argument."""

from __future__ import annotations

import argparse
import json

import yaml

from pipelines.cli import build_parser, main


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def tokens_dir(tmp_path):
    folder = tmp_path / "tokens"
    folder.mkdir()
    meta = {"vocab_size": 512, "dtype": "uint16", "eos_id": 0, "files": ["a.parquet"],
            "sources": {"web/wikipedia": {"dir": "web/wikipedia", "train": {"tokens": 9000, "docs": 30, "bytes": 40000},
                                          "val": {"tokens": 100, "docs": 1, "bytes": 400}},
                        "code/python": {"dir": "code/python", "train": {"tokens": 5000, "docs": 10, "bytes": 20000},
                                        "val": {"tokens": 50, "docs": 1, "bytes": 200}}}}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_a_train_yaml_with_a_bad_model_size_is_a_located_error(tmp_path, capsys):
    mixture = {"tokens": str(tokens_dir(tmp_path)), "weights": {"web/wikipedia": 1.0}}
    path = write(tmp_path / "train.yaml", {"out": str(tmp_path / "run"), "model": {"size": "tiny2"},
                                           "stages": [{"mixture": mixture, "tokens": 1000, "lr": {"peak": 0.001}}]})
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: model" in err and "unknown model size 'tiny2'" in err and "Traceback" not in err
    assert main(["train", path]) == 2  # before any data loads


def test_a_misspelled_mixture_source_is_located_with_a_suggestion(tmp_path, capsys):
    path = write(tmp_path / "mixture.yaml", {"tokens": str(tokens_dir(tmp_path)),
                                             "weights": {"web/wikipeda": 0.7, "code/python": 0.3}})
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: weights.web/wikipeda: no source 'web/wikipeda'" in err and "did you mean web/wikipedia" in err
    train = write(tmp_path / "train.yaml", {"out": str(tmp_path / "run"),
                                            "stages": [{"mixture": path, "tokens": 1000, "lr": {"peak": 0.001}}]})
    assert main(["validate", train]) == 2
    assert f"{path}:3: weights.web/wikipeda" in capsys.readouterr().err


def test_each_yaml_kind_is_recognised(tmp_path, capsys):
    tokens = tokens_dir(tmp_path)
    mixture = write(tmp_path / "mixture.yaml", {"tokens": str(tokens), "weights": {"web/wikipedia": 1.0}})
    train = write(tmp_path / "train.yaml", {"out": str(tmp_path / "run"),
                                            "stages": [{"mixture": mixture, "tokens": 1000, "lr": {"peak": 0.001}}]})
    for path, kind in [(mixture, "mixture"), (train, "train"), ("pipelines/quality_train.yaml", "quality")]:
        assert main(["validate", path]) == 0
        assert f"ok ({kind})" in capsys.readouterr().err
    tokenize = write(tmp_path / "tokenize.yaml", {"inputs": [str(tmp_path / "none/*.parquet")], "output": "x",
                                                  "tokenizr": {}})
    assert main(["validate", tokenize]) == 2
    assert "tokenizr" in capsys.readouterr().err


def test_the_run_summary_fits_80_columns(tmp_path, sample, pipeline, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"},
                     "steps": [{"filter.gopher.repetition": {}}, {"filter.gopher.quality": {}}, {"dedup.exact": {}}]})
    assert main(["run", str(path)]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert all(len(x) <= 80 for x in lines), max(lines, key=len)
    text = "\n".join(lines)
    assert "1:filter.gopher.quality" in text and "gopher_short_doc" in text and "exact_duplicate" in text


def test_inspect_reads_tokenize_and_train_outputs(tmp_path, capsys):
    assert main(["inspect", str(tokens_dir(tmp_path))]) == 0
    assert "web/wikipedia" in capsys.readouterr().out
    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000008").mkdir(parents=True)
    (run / "metrics.jsonl").write_text(json.dumps({"step": 8, "loss": 5.25}) + "\n")
    (run / "summary.json").write_text(json.dumps({"steps": 8, "tokens": 4096,
                                                  "val": {"web/wikipedia": {"loss": 5.5, "bpb": 2.1}}}))
    assert main(["inspect", str(run)]) == 0
    out = capsys.readouterr().out
    assert "last loss 5.2500 at step 8" in out and "step-00000008" in out and "web/wikipedia: loss 5.5000" in out
    assert main(["inspect", str(tmp_path)]) == 2


def test_version_and_help_for_every_argument(capsys):
    try:
        main(["--version"])
    except SystemExit:
        pass
    assert capsys.readouterr().out.startswith("gristmill ")
    missing = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}")
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) and not action.help:
                missing.append(f"{prefix} {action.dest}")

    walk(build_parser(), "gristmill")
    assert not missing


def test_steps_say_what_each_parameter_means(capsys):
    assert main(["steps"]) == 0
    out = capsys.readouterr().out
    assert "the source name for every document" in out  # a reader's parameter
    assert "a class in datatrove.pipeline.filters" in out  # a step's


def test_mix_predict_ranks_a_published_swarms_held_out_mixtures(tmp_path, capsys):
    import polars as pl
    from scipy.stats import spearmanr

    from tests.conftest import ROOT

    regmix, target = ROOT / "data" / "regmix", "metric/the_pile_pile_cc_val_loss"
    assert main(["mix", "predict", "--mixtures", str(regmix / "train_mixture_1m.csv"),
                 "--metrics", str(regmix / "train_pile_loss_1m.csv"), "--target", target,
                 "--candidates", str(regmix / "test_mixture_1m.csv"), "--out", str(tmp_path)]) == 0
    assert "5-fold Spearman" in capsys.readouterr().err
    predicted = pl.read_csv(tmp_path / "predictions.csv")
    actual = pl.read_csv(regmix / "test_pile_loss_1m.csv").select("index", target)
    joined = predicted.join(actual, on="index")
    assert joined.height == predicted.height > 100
    assert spearmanr(joined["predicted_objective"], joined[target])[0] > 0.9


def test_misspelled_keys_get_the_closest_known_ones(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "sorce_field": "source"},
                     "steps": [{"filter.length": {"min_wrds": 3}}]})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "input.sorce_field: Extra inputs are not permitted; did you mean source_field" in err
    assert "min_wrds: Extra inputs are not permitted; did you mean min_words" in err
    tokenize = write(tmp_path / "tokenize.yaml", {"inputs": ["x"], "output": "y", "tokenizr": {}})
    assert main(["validate", tokenize]) == 2
    assert "did you mean tokenizer?" in capsys.readouterr().err
