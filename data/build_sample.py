"""Build the bundled sample corpus (data/sample/*.jsonl.gz) from real third-party text.

Sources, all fetched from registries by `pip download` / found on a Debian system:
- web: Wikipedia articles from gensim 4.4.0's test data (CC BY-SA), wikitext stripped to plain text
- news: ABC news stories from gensim's lee_background.cor (used by gensim for tests)
- books: Natsume Soseki's "Botchan" (Project Gutenberg, public domain) from sentencepiece 0.2.3's sdist
- code: modules of the Python standard library of the building interpreter (PSF license)
- legal: /usr/share/doc/*/copyright files of Debian packages (real license texts, many exact copies)

Run: python data/build_sample.py [--cache DIR]. Output is deterministic for the same inputs.
"""

from __future__ import annotations

import argparse
import bz2
import glob
import gzip
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

OUT = Path(__file__).parent / "sample"
WIKI = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS = "gensim/test/test_data/lee_background.cor"


def fetch(cache: Path, spec: str, sdist: bool = False) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    found = [p for p in cache.iterdir() if p.name.lower().replace("-", "_").startswith(name)]
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", spec, "-d", str(cache)]
        if sdist:
            cmd[4:4] = ["--no-binary", ":all:"]
        subprocess.run(cmd, check=True)
        found = [p for p in cache.iterdir() if p.name.lower().replace("-", "_").startswith(name)]
    return found[0]


def strip_wikitext(text: str) -> str:
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<ref[^>/]*/>", "", text)
    text = re.sub(r"<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    while re.search(r"\{\{[^{}]*\}\}", text):
        text = re.sub(r"\{\{[^{}]*\}\}", "", text)
    text = re.sub(r"\{\|.*?\|\}", "", text, flags=re.S)
    text = re.sub(r"\[\[(?:File|Image|Category):(?:[^\[\]]|\[\[[^\]]*\]\])*\]\]", "", text)
    text = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", text)
    text = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)
    text = re.sub(r"<[^>]+>", "", text)
    lines = [ln.rstrip() for ln in text.splitlines() if not ln.lstrip().startswith(("|", "!", "{", "}"))]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def wiki_docs(wheel: Path) -> list[dict]:
    with zipfile.ZipFile(wheel) as z:
        raw = bz2.decompress(z.read(WIKI))
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    docs = []
    for page in ET.fromstring(raw).iter(f"{ns}page"):
        title = page.findtext(f"{ns}title")
        text = page.findtext(f"{ns}revision/{ns}text") or ""
        if page.findtext(f"{ns}ns") != "0" or text.lstrip().lower().startswith("#redirect"):
            continue
        url = "https://en.wikipedia.org/wiki/" + title.replace(" ", "_")
        docs.append({"id": f"enwiki:{page.findtext(f'{ns}id')}", "text": strip_wikitext(text),
                     "source": "web/wikipedia", "url": url})
    return docs


def news_docs(wheel: Path) -> list[dict]:
    with zipfile.ZipFile(wheel) as z:
        lines = z.read(NEWS).decode("utf-8").splitlines()
    return [{"text": ln.strip(), "source": "news/abc"} for ln in lines if ln.strip()]


def book_docs(sdist: Path, words_per_doc: int = 600) -> list[dict]:
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("test/botchan.txt"))
        text = tar.extractfile(member).read().decode("utf-8")
    docs, current, words = [], [], 0  # the file is hard-wrapped with no blank lines: cut every ~N words
    for line in text.lstrip("\ufeff").splitlines():
        current.append(line.rstrip())
        words += len(line.split())
        if words >= words_per_doc and line.rstrip().endswith((".", '"', "?", "!")):
            docs.append("\n".join(current))
            current, words = [], 0
    if current:
        docs.append("\n".join(current))
    return [{"id": f"botchan:{i}", "text": d, "source": "books/gutenberg"} for i, d in enumerate(docs)]


def code_docs(limit: int = 400) -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if 2_000 < p.stat().st_size < 60_000)[:limit]
    return [{"text": p.read_text(encoding="utf-8", errors="replace"), "source": "code/python-stdlib",
             "path": f"Lib/{p.name}"} for p in files]


def legal_docs(limit: int = 250) -> list[dict]:
    files = sorted(glob.glob("/usr/share/doc/*/copyright"))[:limit]
    return [{"text": Path(f).read_text(encoding="utf-8", errors="replace"), "source": "legal/debian-copyright",
             "path": f} for f in files]


def write(name: str, docs: list[dict]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT / f"{name}.jsonl.gz", "wb", mtime=0) as f:
        for d in docs:
            f.write((json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"{name}: {len(docs)} docs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=Path(".cache/sources"))
    args = ap.parse_args()
    gensim = fetch(args.cache, "gensim==4.4.0")
    sentencepiece = fetch(args.cache, "sentencepiece==0.2.3", sdist=True)
    write("web-wikipedia", wiki_docs(gensim))
    write("news-abc", news_docs(gensim))
    write("books-botchan", book_docs(sentencepiece))
    write("code-stdlib", code_docs())
    write("legal-copyright", legal_docs())


if __name__ == "__main__":
    main()
