"""YAML that would hang, exhaust memory or silently mean something else is refused by the loader
(provenance/yamlfile.py) with a ConfigError naming the file and line, before any work starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

from curate.engine.plan import load_plan
from provenance.yamlfile import ConfigError, Strict, load_yaml, validate

HEAD = "name: t\ninput: {reader: jsonl, paths: [data/sample/*.jsonl.gz]}\noutput: {path: out/t}\n"

# Runs `gristmill validate` in a child whose address space is capped at 1 GiB (it needs ~350 MiB).
CAPPED = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from pipelines.cli import main
sys.exit(main(["validate", sys.argv[1]]))
"""


def laughs(levels: int, width: int = 9) -> str:
    """A list of `width` aliases of a list of `width` aliases ... `levels` deep: width**levels strings."""
    rows = ['  - &l0 ["lol"]'] + [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return HEAD + "laughs:\n" + "\n".join(rows) + "\n"


def errors_of(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    return info.value.errors


def test_alias_bomb_is_refused_at_its_alias_in_little_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(9))  # 9**9 = 387M strings once expanded: gigabytes
    done = subprocess.run([sys.executable, "-c", CAPPED, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    # the row of &l5 (line 10) passes the budget of 100,000 nodes at its 7th *l4 (13,942 nodes each)
    assert f"{path}:10: aliases expand to more than 100000 nodes" in done.stderr


def test_a_few_aliases_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + textwrap.dedent("""\
        steps:
          - filter.length: &five {min_words: 5}
          - filter.length: *five
        laughs: [*five, *five]
        """))
    doc = load_yaml(path)
    assert doc.data["laughs"] == [{"min_words": 5}] * 2
    assert doc.line(("laughs", 1, "min_words")) == 7  # below an alias: the line that uses it
    path.write_text(laughs(4))  # 9**4 nodes through aliases: well within the budget
    assert len(load_yaml(path).data["laughs"][4]) == 9


def test_set_changes_one_use_of_an_alias(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "steps:\n  - filter.length: &five {min_words: 5}\n  - filter.length: *five\n")
    plan = load_plan(str(path), ["steps.0.filter.length.min_words=9"], check_inputs=False)
    assert [s.params.min_words for s in plan.stages[0].steps] == [9, 5]


def test_alias_inside_its_own_anchor(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(HEAD + "loop: &x [1, *x]\n")
    assert errors_of(path) == [f"{path}:4: alias *x is inside its own anchor"]


def test_deep_nesting(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "deep: " + "[" * 5000 + "]" * 5000 + "\n")
    assert errors_of(path) == [f"{path}:4: nested more than 100 levels deep"]


def test_duplicate_keys_name_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(HEAD + textwrap.dedent("""\
        steps:
          - filter.length: {min_words: 5, min_words: 7}
        output:
          path: out/a
          path: out/b
        """))
    assert errors_of(path) == [f"{path}:5: steps.0.filter.length.min_words: given twice, first on line 5",
                               f"{path}:6: output: given twice, first on line 3",
                               f"{path}:8: output.path: given twice, first on line 7"]


def test_merge_keys_may_override_what_they_merge(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text(HEAD + "base: &base {min_words: 5, max_words: 9}\nmine:\n  <<: *base\n  min_words: 6\n")
    assert load_yaml(path).data["mine"] == {"min_words": 6, "max_words": 9}


def test_parsed_once_from_the_composed_nodes(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text(HEAD)

    def second_parse(*args, **kwargs):
        raise AssertionError("parsed twice")

    for name in ("compose", "load", "safe_load"):
        monkeypatch.setattr(yaml, name, second_parse)
    assert load_yaml(path).data["name"] == "t"


class Numbers(Strict):
    count: int = 0
    share: float = 0.0
    maybe: int | None = None
    weights: dict[str, float] = {}
    betas: tuple[float, float] = (0.9, 0.95)
    name: str = ""


@pytest.mark.parametrize("text, where", [
    ("count: true", "count: Input should be a number, not true/false"),
    ("share: false", "share: Input should be a number, not true/false"),
    ("maybe: true", "maybe: Input should be a number, not true/false"),
    ("weights: {web: 1, code: true}", "weights: Input should be a number, not true/false (at code)"),
    ("betas: [0.9, true]", "betas: Input should be a number, not true/false (at 1)"),
    ("name: 5", "name: Input should be a valid string"),
])
def test_a_bool_is_not_a_number_nor_a_number_a_string(tmp_path, text, where):
    path = tmp_path / "n.yaml"
    path.write_text(f"# numbers\n{text}\n")
    with pytest.raises(ConfigError) as info:
        validate(load_yaml(path), Numbers)
    assert info.value.errors == [f"{path}:2: {where}"]


def test_what_lax_mode_rightly_accepts(tmp_path):
    path = tmp_path / "n.yaml"
    # an int for a float, a list for a tuple, PyYAML's string "3e-4" for a float
    path.write_text("count: 3\nshare: 2\nweights: {web: 3e-4}\nbetas: [1, 0.5]\nname: '5'\n")
    got = validate(load_yaml(path), Numbers)
    assert (got.share, got.weights, got.betas, got.name) == (2.0, {"web": 3e-4}, (1.0, 0.5), "5")
