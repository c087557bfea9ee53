"""Quality classifiers: a small fastText model trained on real text (the bundled sample), its held-out
metrics and card, filter.quality's threshold and filter.quality.top's top-k% rules (overall and per
source, the same for any worker count), and the bad inputs refused before data is read."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
import yaml

from curate.engine.plan import load_plan
from curate.quality.model import QualityModel
from curate.quality.train import train_file
from pipelines.cli import main
from provenance.yamlfile import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


def jsonl(name: str) -> dict:
    return {"reader": "jsonl", "paths": [str(SAMPLE / name)]}


def config(out: Path, **extra) -> dict:
    """Edited prose (Wikipedia, ABC news) against Debian copyright files and standard-library code."""
    return {"name": "test", "output": str(out),
            "sources": [{"name": "wikipedia", "label": "good", "input": jsonl("web-wikipedia.jsonl.gz")},
                        {"name": "news", "label": "good", "input": jsonl("news-abc.jsonl.gz")},
                        {"name": "copyright", "label": "bad", "input": jsonl("legal-copyright.jsonl.gz")},
                        {"name": "code", "label": "bad", "input": jsonl("code-stdlib.jsonl.gz")}],
            "positive": ["good"], "fasttext": {"epoch": 10, "dim": 16, "bucket": 50_000}, "notes": "test model",
            **extra}


def write(tmp: Path, cfg: dict, name: str = "quality.yaml") -> str:
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("quality")
    assert main(["quality", "train", write(tmp, config(tmp / "model"))]) == 0
    return tmp / "model"


def test_training_metrics_and_card(model):
    card = json.loads((model / "card.json").read_text())
    h = card["heldout"]
    assert h["docs"] >= 80 and h["positives"] > 30 and h["negatives"] > 30
    assert h["roc_auc"] >= 0.95 and h["precision"] >= 0.9 and h["recall"] >= 0.9
    assert 0.9 <= h["f1"] <= 1
    assert sum(h["histogram"]["positive"]) == h["positives"] and sum(h["histogram"]["negative"]) == h["negatives"]
    assert card["labels"] == ["bad", "good"] and card["score"] == {"positive": ["good"]}
    assert card["normalization"] == {"name": "lower-ws-v1", "max_chars": 10000}
    assert card["params"]["thread"] == 1 and card["params"]["fasttext"]["dim"] == 16
    blob = (model / "model.bin").read_bytes()
    assert card["model"] == {"file": "model.bin", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    by_name = {s["name"]: s for s in card["sources"]}
    wiki = by_name["wikipedia"]["files"][0]
    assert wiki["sha256"] == hashlib.sha256((SAMPLE / "web-wikipedia.jsonl.gz").read_bytes()).hexdigest()
    assert wiki["bytes"] == (SAMPLE / "web-wikipedia.jsonl.gz").stat().st_size
    assert by_name["copyright"]["duplicates_dropped"] > 0  # Debian copyright files repeat
    split = card["split"]  # balanced: as many of each label
    assert abs(split["good"]["train"] + split["good"]["heldout"] - split["bad"]["train"] - split["bad"]["heldout"]) == 0
    md = (model / "card.md").read_text()
    assert "ROC-AUC" in md and "wikipedia" in md and "test model" in md


def test_training_is_deterministic_for_a_seed(model, tmp_path):
    assert main(["quality", "train", write(tmp_path, config(tmp_path / "again"))]) == 0
    assert (tmp_path / "again" / "model.bin").read_bytes() == (model / "model.bin").read_bytes()
    first, again = (json.loads((m / "card.json").read_text()) for m in (model, tmp_path / "again"))
    assert first["heldout"] == again["heldout"]


def test_score_bins_from_a_label_column(tmp_path):
    """A numeric label column cut into bins: three classes, quality_score the expected value."""
    rows = []
    for name, grade in (("web-wikipedia.jsonl.gz", 2.5), ("news-abc.jsonl.gz", 1.2), ("legal-copyright.jsonl.gz", 0.1)):
        with gzip.open(SAMPLE / name, "rt") as f:
            rows += [{"id": f"{name}:{i}", "text": json.loads(line)["text"], "grade": grade} for i, line in enumerate(f)]
    data = tmp_path / "graded.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"name": "bins", "output": str(tmp_path / "m"), "values": {"0": 0, "1": 1, "2": 2},
           "sources": [{"name": "graded", "label_field": "grade", "bins": [1, 2],
                        "input": {"reader": "jsonl", "paths": [str(data)], "keep_columns": ["grade"]}}],
           "fasttext": {"epoch": 10, "dim": 16, "bucket": 50_000}}
    train_file(write(tmp_path, cfg))
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["labels"] == ["0", "1", "2"] and set(card["heldout"]["per_label"]) == {"0", "1", "2"}
    assert card["heldout"]["accuracy"] >= 0.75 and card["heldout"]["per_label"]["0"]["f1"] >= 0.9
    scorer = QualityModel(str(tmp_path / "m" / "model.bin"))
    scores, probs, scored = scorer.score(pa.array([rows[0]["text"], rows[-1]["text"], ""], pa.large_string()))
    assert probs.shape == (3, 3) and np.allclose(probs[:2].sum(axis=1), 1, atol=1e-3)
    assert scores[0] > 0.5 > scores[1] and math.isnan(scores[2]) and scored.tolist() == [True, True, False]


def docs_for_scoring(tmp: Path) -> Path:
    """The sample plus empty documents, in 4 shards."""
    src = tmp / "input"
    src.mkdir()
    shutil.copy(SAMPLE / "news-abc.jsonl.gz", src)
    shutil.copy(SAMPLE / "books-botchan.jsonl.gz", src)
    shutil.copy(SAMPLE / "legal-copyright.jsonl.gz", src)
    (src / "empty.jsonl").write_text("".join(json.dumps({"id": f"e{i}", "text": t, "source": "web/empty"}) + "\n"
                                             for i, t in enumerate(["", "   \n\t ", "\n"])))
    return src


def run_pipeline(tmp: Path, src: Path, steps: list[dict], workers: int = 2, name: str = "p") -> tuple[pl.DataFrame, dict]:
    out = tmp / f"out-{name}"
    cfg = {"name": name, "input": {"reader": "jsonl", "paths": [str(src / "*")], "source_field": "source",
                                   "batch_size": 64},
           "steps": steps, "output": {"path": str(out), "keep_rejected": 1000}, "executor": {"kind": "local", "workers": workers}}
    assert main(["run", write(tmp, cfg, f"{name}.yaml")]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    return pl.read_parquet(sorted(out.glob("part-*.parquet"))), manifest


def removed(manifest: dict, step: str) -> dict:
    return next(s for s in manifest["steps"] if s["step"].endswith(step))["removed"]


def test_threshold_keeps_scores_above_and_counts_empty_texts(model, tmp_path):
    src = docs_for_scoring(tmp_path)
    everything, _ = run_pipeline(tmp_path, src, [{"filter.quality": {"model": str(model / "model.bin")}}], name="all")
    assert everything["quality_score"].null_count() == 3  # empty texts: no score, kept without a threshold
    kept, manifest = run_pipeline(tmp_path, src, [{"filter.quality": {"model": str(model / "model.bin"),
                                                                       "threshold": 0.5}}], name="thr")
    scored = everything.filter(pl.col("quality_score").is_not_null())
    assert kept.height == (scored["quality_score"] >= 0.5).sum() > 0
    assert kept["quality_score"].min() >= 0.5
    gone = removed(manifest, "filter.quality")
    assert gone["empty_text"] == 3 and gone["low_quality"] == (scored["quality_score"] < 0.5).sum()
    news = kept.filter(pl.col("source") == "news/abc").height
    legal = kept.filter(pl.col("source").str.starts_with("legal")).height
    assert news > 250 and legal < 25  # the model learned prose from boilerplate
    probs = dict(pq.read_table(sorted((tmp_path / "out-thr").glob("part-*.parquet"))[0]).column("quality_probs")[0].as_py())
    assert set(probs) == {"good", "bad"} and abs(sum(probs.values()) - 1) < 1e-3


@pytest.mark.parametrize("per_source", [False, True])
def test_top_percent_is_exact_and_the_same_for_any_worker_count(model, tmp_path, per_source):
    src = docs_for_scoring(tmp_path)
    steps = [{"filter.quality": {"model": str(model / "model.bin")}},
             {"filter.quality.top": {"percent": 30, "per_source": per_source}}]
    one, manifest = run_pipeline(tmp_path, src, steps, workers=1, name="w1")
    two, _ = run_pipeline(tmp_path, src, steps, workers=2, name="w2")
    assert one.sort("id")["id"].to_list() == two.sort("id")["id"].to_list()
    everything, _ = run_pipeline(tmp_path, src, steps[:1], name="all")
    groups = everything.group_by("source") if per_source else [(None, everything)]
    expected = set()
    for _, group in groups:
        n_keep = math.ceil(0.3 * group.height)
        ranked = group.with_columns(pl.col("quality_score").fill_null(-1.0),  # unscored rank last
                                    tie=pl.col("id").map_elements(xxhash.xxh3_64_intdigest, return_dtype=pl.UInt64))
        ranked = ranked.sort(["quality_score", "tie"], descending=[True, False])  # ties: by id hash
        expected |= set(ranked["id"][:n_keep].to_list())
        cut = ranked["quality_score"][n_keep - 1]
        assert (ranked["quality_score"][n_keep:] < cut).all() or per_source  # no tie across the line here
    assert set(one["id"].to_list()) == expected
    assert removed(manifest, "filter.quality.top")["below_top_percent"] == everything.height - len(expected)


def test_bad_models_are_refused_before_data_is_read(model, tmp_path):
    def refused(model_path: str, **params) -> str:
        cfg = {"name": "bad", "input": {"reader": "jsonl", "paths": [str(SAMPLE / "news-abc.jsonl.gz")]},
               "steps": [{"filter.quality": {"model": model_path, **params}}], "output": {"path": str(tmp_path / "o")}}
        with pytest.raises(ConfigError) as err:
            load_plan(write(tmp_path, cfg, "bad.yaml"))
        return str(err.value)

    assert "does not exist" in refused(str(tmp_path / "nope.bin"))
    assert "quality train" in refused("no-such-trained-model")
    (tmp_path / "fake.bin").write_bytes(b"not a model at all")
    assert "not a fastText model" in refused(str(tmp_path / "fake.bin"))
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(model / "model.bin", bare / "model.bin")
    assert "no model card" in refused(str(bare / "model.bin"))
    other = tmp_path / "other"
    shutil.copytree(model, other)
    card = json.loads((other / "card.json").read_text())
    card["normalization"]["name"] = "raw-v0"
    (other / "card.json").write_text(json.dumps(card))
    assert "trained with normalization 'raw-v0'" in refused(str(other / "model.bin"))
    assert "not 'raw-v0'" in refused(str(model / "model.bin"), normalization="raw-v0")


def test_bad_training_configs(tmp_path):
    one_class = config(tmp_path / "m")
    for s in one_class["sources"]:
        s["label"] = "good"
    with pytest.raises(ConfigError, match="at least two"):
        train_file(write(tmp_path, one_class))
    column = {"name": "c", "output": str(tmp_path / "c"), "positive": ["x"],
              "sources": [{"name": "s", "label_field": "source", "input": {**jsonl("news-abc.jsonl.gz"),
                                                                           "keep_columns": []}}]}
    with pytest.raises(ConfigError, match="label_field 'source'|at least two"):
        train_file(write(tmp_path, column))
    missing = config(tmp_path / "m")
    missing["sources"][0]["input"]["paths"] = [str(tmp_path / "absent.jsonl")]
    with pytest.raises(ConfigError, match="does not exist"):
        train_file(write(tmp_path, missing))
    typo = config(tmp_path / "m", epochs=3)
    with pytest.raises(ConfigError, match="epochs"):
        train_file(write(tmp_path, typo))
    assert not (tmp_path / "m").exists()  # nothing written by a refused config
