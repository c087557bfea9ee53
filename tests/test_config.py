"""`gristmill validate`: every config error names file, line and key, before any data is read."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curate.engine.plan import load_plan
from curate.engine.step import Step, register
from pipelines.cli import main
from provenance.yamlfile import ConfigError


@register("test.needs_lang")
class NeedsLang(Step):
    needs = {"lang": pa.string()}


BAD = """\
name: bad
input:
  reader: jsonl
  paths: [{glob}]
steps:
  - normalize.unicode: {{}}
  - filter.lenght: {{min_words: 5}}
  - filter.length: {{min_words: many}}
  - filter.length: {{min_word: 5}}
  - test.needs_lang: {{}}
  - filter.datatrove: {{name: GopherQualityFilter, params: {{min_doc_wordz: 3}}}}
output: {{path: {out}}}
"""


def test_validate_reports_every_error_with_line_and_key(tmp_path, sample, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.format(glob=f"{sample}/*.jsonl.gz", out=tmp_path / "out"))
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    errors = info.value.errors
    text = "\n".join(errors)
    assert f"{path}:7: steps.1.filter.lenght: unknown step 'filter.lenght'; did you mean filter.length" in text
    assert f"{path}:8: steps.2.filter.length.min_words:" in text
    assert f"{path}:9: steps.3.filter.length.min_word: Extra inputs are not permitted" in text
    assert f"{path}:10: steps.4.test.needs_lang: needs column 'lang'" in text
    assert f"{path}:11: steps.5.filter.datatrove:" in text and "min_doc_wordz" in text
    assert len(errors) == 5
    assert main(["validate", str(path)]) == 2
    assert "unknown step 'filter.lenght'" in capsys.readouterr().err


def test_missing_inputs_and_empty_globs(tmp_path, pipeline):
    path = pipeline({"input": {"reader": "jsonl", "paths": [str(tmp_path / "nope.jsonl"), str(tmp_path / "*.zz")]}})
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    assert any("nope.jsonl' does not exist" in e for e in info.value.errors)
    assert any("matches no files" in e for e in info.value.errors)
    assert all(e.startswith(f"{path}:") for e in info.value.errors)


def test_yaml_syntax_error_has_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ninput:\n  reader: jsonl\n  paths: [a, b\noutput: {path: o}\n")
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    assert info.value.errors[0].startswith(f"{path}:5: invalid YAML")


def test_wrong_type_for_top_level_key(tmp_path, sample, pipeline):
    path = pipeline({"input": {"reader": "csv", "paths": [f"{sample}/*.jsonl.gz"]}})
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "reader: csv" in ln)
    assert f"{path}:{line}: input.reader:" in info.value.errors[0]


def test_set_overrides_reach_dotted_step_names(sample, pipeline):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"filter.length": {"min_words": 5}}]})
    plan = load_plan(str(path), ["steps.0.filter.length.min_words=9", "executor.workers=3"])
    assert plan.stages[0].steps[0].params.min_words == 9
    assert plan.executor.workers == 3
    assert plan.config_hash() != load_plan(str(path)).config_hash()


def test_stages_split_around_global_steps(sample, pipeline):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"normalize.unicode": {}}, {"dedup.exact": {}}, {"filter.length": {"min_words": 5}}]})
    plan = load_plan(str(path))
    assert [len(s.steps) for s in plan.stages] == [1, 1]
    assert plan.stages[0].global_step.cls.name == "dedup.exact"


def test_every_step_resolves_from_its_name_alone():
    import subprocess
    import sys

    from curate.engine.step import STEP_PACKAGES, all_steps

    names = [n for n in all_steps() if n.partition(".")[0] in STEP_PACKAGES]
    assert "filter.gopher.quality" in names
    code = "from curate.engine.step import get_step; import sys; [get_step(n) for n in sys.argv[1:]]"
    subprocess.run([sys.executable, "-c", code, *names], check=True)


@pytest.mark.parametrize("steps", ["filter.length", {"filter.length": {"min_words": 5}}])
def test_steps_of_the_wrong_shape_are_one_error(sample, pipeline, steps):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]}, "steps": steps})
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith("steps:"))
    assert info.value.errors == [f"{path}:{line}: steps: Value error, steps must be a list of "
                                 "`- step.name: {params}` items"]


def test_true_is_not_a_number(sample, pipeline):
    path = pipeline({"input": {"reader": "jsonl", "paths": [f"{sample}/*.jsonl.gz"]},
                     "steps": [{"filter.length": {"min_words": True}}],
                     "output": {"path": "out", "keep_rejected": True}})
    with pytest.raises(ConfigError) as info:
        load_plan(str(path))
    assert sorted(e.split(": ", 1)[1] for e in info.value.errors) == [
        "output.keep_rejected: Input should be a number, not true/false",
        "steps.0.filter.length.min_words: Input should be a number, not true/false"]
