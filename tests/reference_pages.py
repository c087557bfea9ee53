"""Real pages with the reference main text their packagers ship beside them, fetched from registries into
a cache folder at first use (never committed): the fixtures of the extraction-quality tests and part of
benchmarks/extraction_quality.py's input.

- news: newspaper4k 0.9.6's sdist (PyPI, MIT), tests/data/html/*.html with the article text its tests
  expect in tests/data/txt/*.txt: CNN, Time, Wired, Fox and others in English, and articles in Spanish,
  Latvian, Arabic, Chinese, Japanese, Korean, Thai and Burmese (needs pip).
- docs: Debian's debian-reference-{en,de,fr,ja,zh-cn} 2.100 (GPL-2+): one HTML page per chapter and
  the whole book as plain text (debian-reference.LANG.txt.gz), cut into chapters at each chapter's
  title (needs apt-get download and dpkg-deb)."""

from __future__ import annotations

import gzip
import html
import re
import subprocess
import sys
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.bag_of_words import TOKEN

NEWSPAPER = "newspaper4k==0.9.6"
NEWS_LANG = {"arabic": "ar", "burmese": "my", "chinese": "zh", "japanese": "ja", "latvian": "lv", "spanish": "es",
             "thai": "th", "yna_co_kr": "ko"}  # by file-name prefix; the rest are English
DEBIAN_REFERENCE = ("en", "de", "fr", "ja", "zh-cn")


@dataclass
class Page:
    group: str
    lang: str
    name: str
    html: bytes
    reference: str


def news_pages(cache: Path) -> list[Page]:
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


def debian_reference_pages(cache: Path, languages: tuple[str, ...] = DEBIAN_REFERENCE) -> list[Page]:
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


def split(page: Page) -> str:
    """`tune` or `held-out`, fixed by the page's name (a Debian Reference chapter by its number, so that
    its five translations fall on the same side): rules are chosen on the tune half only."""
    key = page.name.split(".")[0] if page.group.startswith("docs, Debian") else page.name
    return "tune" if zlib.crc32(key.encode()) % 2 == 0 else "held-out"


def scores(got: str, ref: str, n: int = 4) -> dict[str, tuple[float, float, float]]:
    """Precision, recall and F1 of `got` against `ref`, as bags of words (`bow`) and of word n-grams
    (`shingle`, n = 4; a token is a word, or one character of a script written without spaces, as in
    tests/bag_of_words.py), counting repeats. Shingles see order and context: a headline or a teaser
    made of article words still costs precision."""
    a, b = TOKEN.findall(got.lower()), TOKEN.findall(ref.lower())
    out = {"bow": _prf(Counter(a), Counter(b))}
    out["shingle"] = _prf(Counter(zip(*(a[i:] for i in range(n)))), Counter(zip(*(b[i:] for i in range(n)))))
    return out


def _prf(a: Counter, b: Counter) -> tuple[float, float, float]:
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    p, r = overlap / sum(a.values()), overlap / sum(b.values())
    return p, r, 2 * p * r / (p + r)
