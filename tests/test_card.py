"""Data cards (provenance/card): every section and machine-readable file from real curation runs on the
bundled sample, Croissant validated by mlcroissant and against the published context and RAI vocabulary,
the HTML rendered by headless Chromium, and bad inputs (missing folder, old/new manifest, empty run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.cli import main
from provenance.card import build_card, croissant
from provenance.yamlfile import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ["Overview", "Document funnel", "Sources and languages", "Licences", "Opt-out", "Personal data (PII)",
            "Duplicates", "Quality scores", "Benchmark contamination", "Mixture and training", "Example documents",
            "Reproducibility"]


def run(tmp: Path, name: str, steps: list, keep_rejected: int = 5) -> Path:
    cfg = {"name": name, "input": {"reader": "jsonl", "paths": [str(ROOT / "data/sample/news-abc.jsonl.gz")],
                                   "source_field": "source"},
           "steps": steps, "output": {"path": str(tmp / name), "keep_rejected": keep_rejected},
           "executor": {"kind": "local", "workers": 1}}
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp / f"{name}.yaml")]) == 0
    return tmp / name


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A real run (filters, dedup, PII, contamination), a run that keeps nothing, and tokenize/train
    summaries in the shapes train/ writes (a real training run is covered by tests/test_train.py)."""
    tmp = tmp_path_factory.mktemp("card-runs")
    news = run(tmp, "news", [{"normalize.unicode": {}}, {"filter.length": {"min_words": 50}}, {"dedup.exact": {}},
                             {"dedup.minhash": {"threshold": 0.8}}, {"pii.redact": {}},
                             {"decontam.ngram": {"benchmarks": ["humaneval"]}}])
    empty = run(tmp, "empty", [{"filter.length": {"min_words": 1_000_000}}])
    out = json.loads((news / "manifest.json").read_text())["output"]
    tokens = tmp / "tokens"
    (tokens / "tokenizer").mkdir(parents=True)
    (tokens / "tokenizer/tokenizer.json").write_text("{}")
    (tokens / "meta.json").write_text(json.dumps({
        "vocab_size": 2048, "dtype": "uint16", "config_hash": "0123456789abcdef",
        "sources": {"news/abc": {"train": {"tokens": 80000, "docs": out["docs"] - 10, "bytes": 300000},
                                 "val": {"tokens": 4000, "docs": 10, "bytes": 15000}}},
        "curated_runs": [{"manifest": str(news / "manifest.json"), "name": "news"}]}))
    mixture = tmp / "mixture.yaml"
    mixture.write_text(f"tokens: {tokens}\nweights: {{news/abc: 1.0}}\nmax_epochs: 3\n")
    train = tmp / "train"
    train.mkdir()
    (train / "summary.json").write_text(json.dumps({
        "steps": 30, "tokens": 15360, "val": {"news/abc": {"loss": 6.5, "bpb": 2.4}},
        "tokens_by_source": {"news/abc": 15360}, "epochs_by_source": {"news/abc": 0.19},
        "inputs": [{"stage": "main", "tokens": {"path": str(tokens)}, "mixture": {"path": str(mixture), "sha256": "ab"},
                    "weights": {"news/abc": 1.0}}]}))
    return {"news": news, "empty": empty, "tokens": tokens, "train": train}


@pytest.fixture(scope="session")
def card(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("card")
    paths = build_card([runs["train"]], out)  # the training run leads back to tokens and the curation run
    assert {p.name for p in paths} >= {"card.md", "card.html", "croissant.json", "eu_ai_act_summary.json"}
    return out


def section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_markdown_has_every_section_with_the_runs_numbers(card, runs):
    md = (card / "card.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in md
    m = json.loads((runs["news"] / "manifest.json").read_text())
    funnel = section(md, "Document funnel")
    for s in m["steps"]:
        assert f"| {s['step']} | {s['docs_out']:,} |" in funnel
    pii = section(md, "Personal data (PII)")
    for s in m["steps"]:
        for k, v in s["counters"].items():
            if k.startswith("pii:"):
                assert f"| {k[4:]} | {v:,} |" in pii
    assert "humaneval | 164 |" in section(md, "Benchmark contamination")
    assert "13-word n-grams" in section(md, "Benchmark contamination")
    assert "| news/abc | 1 |" in section(md, "Mixture and training")  # weight; realised epochs follow
    assert "Max epochs per source: main: 3" in md
    assert "cluster size" in section(md, "Duplicates")
    assert "removed by 1:filter.length (too_few_words)" in section(md, "Example documents")
    assert m["config_hash"][:16] in section(md, "Reproducibility")
    for absent in ("Licences", "Opt-out (text and data mining reservations)", "Quality scores"):
        assert section(md, absent).strip().startswith("Not used:"), absent


def test_html_is_self_contained_with_embedded_charts(card):
    html = (card / "card.html").read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)', html)
    charts = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', html)
    assert len(charts) >= 4 and any("documents and bytes" in c for c in charts)
    assert html.count("<section") == len(SECTIONS)
    assert html.count(">not used</span>") == 3


def test_croissant_uses_the_published_context_and_rai_vocabulary(card, runs):
    doc = json.loads((card / "croissant.json").read_text())
    assert doc["@context"] == croissant.CONTEXT and doc["conformsTo"] == croissant.CONFORMS_TO
    assert doc["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    rai = {k[4:] for k in doc if k.startswith("rai:")}
    assert rai == set(croissant.RAI_FIELDS)
    assert "EMAIL_ADDRESS" in " ".join(doc["rai:personalSensitiveInformation"]) or \
        "none found" in " ".join(doc["rai:personalSensitiveInformation"])
    fields = {f["name"]: f["dataType"] for f in doc["recordSet"][0]["field"]}
    assert fields["id"] == "sc:Text" and fields["text"] == "sc:Text" and fields["dup_cluster_size"] == "sc:Integer"
    manifest = next(d for d in doc["distribution"] if d["@type"] == "cr:FileObject")
    assert (card / manifest["contentUrl"]).resolve() == (runs["news"] / "manifest.json").resolve()


def test_croissant_validates_with_mlcroissant(card):
    mlc = pytest.importorskip("mlcroissant", reason="mlcroissant not installed (pip install mlcroissant)")
    ds = mlc.Dataset(jsonld=str(card / "croissant.json"))
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings
    try:
        from mlcroissant._src.core import constants
    except ImportError:
        return
    vocab = {str(v).rsplit("/", 1)[1] for k, v in vars(constants).items() if k.startswith("ML_COMMONS_RAI_")}
    assert set(croissant.RAI_FIELDS) <= vocab
    assert set(croissant.RAI_FIELDS) <= {k.removeprefix("rai:") for k in ds.metadata.to_json()}


def test_eu_ai_act_summary_fills_the_template(card):
    s = json.loads((card / "eu_ai_act_summary.json").read_text())
    assert set(s) == {"template", "1_general_information", "2_data_sources", "3_data_processing"}
    size = s["1_general_information"]["1_3_modalities_and_size"]
    assert size["training_data_size"] == "Less than 1 billion tokens" and size["tokens"] == 84000
    rows = s["2_data_sources"]["sources_by_type_and_share"]
    assert rows[0]["source"] == "news/abc" and rows[0]["share_of"] == "tokens"
    assert sum(r["share"] for r in rows) == pytest.approx(1)
    proc = s["3_data_processing"]
    assert [x["step"] for x in proc["processing_steps"][0]["steps"]][:2] == ["0:normalize.unicode", "1:filter.length"]
    assert proc["personal_data_measures"][0]["steps"] == ["4:pii.redact"]
    assert "no opt-out step ran" in proc["3_1_rights_reservations_opt_out"]


def test_licence_and_opt_out_sections_fill_in_when_their_columns_exist(runs, tmp_path):
    tagged = tmp_path / "tagged"
    shutil.copytree(runs["news"], tagged)
    for shard in tagged.glob("part-*.parquet"):
        df = pl.read_parquet(shard)
        n = df.height
        df = df.with_columns(license=pl.Series(["CC-BY-4.0", "unknown"] * (n // 2) + ["CC-BY-4.0"] * (n % 2)),
                             license_evidence=pl.Series(["rel_license: creativecommons.org/licenses/by/4.0", None]
                                                        * (n // 2) + [None] * (n % 2)),
                             tdm_opt_out=pl.Series(["robots_txt=GPTBot"] + [None] * (n - 1), dtype=pl.String))
        df.write_parquet(shard)
    build_card([tagged], tmp_path / "card")
    md = (tmp_path / "card/card.md").read_text()
    lic = section(md, "Licences")
    assert "| CC-BY-4.0 |" in lic and "rel_license:" in lic and "Not used" not in lic
    opt = section(md, "Opt-out (text and data mining reservations)")
    assert "signal robots_txt" in opt and "Not used" not in opt


def test_a_run_with_no_documents_still_gets_a_card(runs, tmp_path):
    build_card([runs["empty"]], tmp_path)
    md = (tmp_path / "card.md").read_text()
    assert "Warning: no run kept any document." in md and "empty: no kept documents." in md
    assert "| 0:filter.length | 0 | 0.0% |" in md
    assert json.loads((tmp_path / "croissant.json").read_text())["recordSet"]


def test_the_card_is_deterministic(runs, tmp_path):
    build_card([runs["news"]], tmp_path / "a")
    build_card([runs["news"]], tmp_path / "b")
    for name in ("card.md", "card.html", "croissant.json", "eu_ai_act_summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_folders_are_named(runs, tmp_path):
    with pytest.raises(ConfigError, match="no-such-run: no such run folder"):
        build_card([tmp_path / "no-such-run"], tmp_path / "out")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a gristmill run folder"):
        build_card([tmp_path / "plain"], tmp_path / "out")
    for version, words in ((99, "newer than this gristmill reads"), (0, "older than this gristmill reads")):
        old = tmp_path / f"v{version}"
        shutil.copytree(runs["news"], old)
        m = json.loads((old / "manifest.json").read_text())
        (old / "manifest.json").write_text(json.dumps({**m, "version": version}))
        with pytest.raises(ConfigError, match=words):
            build_card([old], tmp_path / "out")
    broken = tmp_path / "broken"
    shutil.copytree(runs["news"], broken)
    (broken / "manifest.json").write_text('{"version": 1, "name": ')
    with pytest.raises(ConfigError, match="not readable JSON"):
        build_card([broken], tmp_path / "out")


def test_a_missing_reference_is_a_note_not_a_failure(runs, tmp_path):
    train = tmp_path / "train"
    shutil.copytree(runs["train"], train)
    s = json.loads((train / "summary.json").read_text())
    s["inputs"][0]["tokens"]["path"] = str(tmp_path / "gone")
    (train / "summary.json").write_text(json.dumps(s))
    build_card([train], tmp_path / "card")
    assert f"Note: {train} refers to {tmp_path / 'gone'}, which is not here" in (tmp_path / "card/card.md").read_text()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_chromium_renders_the_card(card):
    shot = card / "screenshot.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1100,3000", f"--screenshot={shot}", (card / "card.html").resolve().as_uri()],
                   check=True, capture_output=True, timeout=60)
    from PIL import Image
    im = Image.open(shot).convert("L")
    assert im.size == (1100, 3000)
    lo, hi = im.getextrema()
    assert hi - lo > 200  # text and charts drawn, not a blank page
    colours = Image.open(shot).convert("RGB").resize((110, 300)).getcolors(maxcolors=1 << 16)
    assert len(colours) > 50
