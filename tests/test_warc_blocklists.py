"""filter.url with the block lists the installed datatrove package ships (no download): real entries
taken from the lists themselves are blocked, with their subdomains; real sites that are not listed pass;
an unknown list name is a config error that names the available ones."""

from __future__ import annotations

import tarfile

import pyarrow as pa
import pytest
import yaml

from curate.engine.plan import load_plan
from curate.filters.url import UrlFilter, UrlParams, datatrove_asset
from provenance.yamlfile import ConfigError
from tests.test_warc import WARC, read_warc, rows


@pytest.fixture(scope="module")
def lists() -> dict[str, bytes]:
    """datatrove's block lists, read here without gristmill's code."""
    with tarfile.open(datatrove_asset(), "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def spread(data: bytes, n: int) -> list[str]:
    """n whole lines at evenly spaced places in a list (the last one included)."""
    picked = []
    for k in range(n):
        start = data.rfind(b"\n", 0, len(data) * k // n) + 1
        picked.append(data[start:data.index(b"\n", start)].decode())
    return picked + [data.rstrip(b"\n").rsplit(b"\n", 1)[1].decode()]


@pytest.fixture(scope="module")
def step() -> UrlFilter:
    s = UrlFilter(UrlParams(datatrove_lists=["domains", "urls"], domains=["spam.test"]))
    s.setup()
    return s


def verdicts(step: UrlFilter, urls: list[str | None]) -> list[str | None]:
    result = step.keep(pa.RecordBatch.from_pydict({"url": pa.array(urls, pa.string())}))
    return [None if k else r for k, r in zip(result.keep.tolist(), result.reasons)]


def test_real_listed_domains_and_their_subdomains_are_blocked(step, lists):
    domains = spread(lists["domains"], 20)  # 21 real entries spread over the 4.56 million, first and last
    assert len(step.blocked) > 4_000_000
    urls = [f"https://{d}/index.html" for d in domains] + [f"http://www.{d}/a?b=1" for d in domains]
    assert verdicts(step, urls) == ["url_blocked_domain"] * len(urls)
    # a listed name inside a longer host, or as the start of an unlisted domain, is not a match
    tricky = [f"https://{domains[0]}.docs.python.org/", f"https://x{domains[1]}/", f"https://{domains[2]}x/"]
    assert verdicts(step, tricky) == [None, None, None]


def test_real_listed_pages_are_blocked_and_their_hosts_are_not(step, lists):
    pages = [u for u in lists["urls"].decode().splitlines() if u.startswith("tumblr.com/")][:5]
    assert len(pages) == 5
    urls = [f"https://{p}" for p in pages] + [f"https://{p}/" for p in pages[:1]]
    assert verdicts(step, urls) == ["url_blocked_url"] * len(urls)
    assert verdicts(step, ["https://tumblr.com/", f"https://{pages[0]}-not-listed"]) == [None, None]


def test_unlisted_real_sites_pass(step):
    bundled = [d["url"] for d in rows(read_warc(WARC)[0])][:50]
    urls = bundled + ["https://docs.python.org/3/library/os.html", "https://www.debian.org/", "http://[::1", None,
                      "https://en.wikipedia.org/wiki/Miller", "http://spam.test/x"]
    assert verdicts(step, urls) == [None] * (len(urls) - 1) + ["url_blocked_domain"]


def test_unknown_list_names_the_available_ones(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "input": {"reader": "warc", "paths": [str(WARC)]},
                                    "steps": [{"filter.url": {"datatrove_lists": ["domains", "adult"]}}],
                                    "output": {"path": str(tmp_path / "o")}}))
    with pytest.raises(ConfigError, match=r"unknown list 'adult'; available: domains, urls"):
        load_plan(str(path))
