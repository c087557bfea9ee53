"""Build data/sample/warc-real/: real archived web pages in WARC files written by another tool, for the
`warc` reader's tests. The files are copied byte for byte from the PyPI sdist archive-query-log==1.2.26
(Webis Group, MIT licence: data/manual-annotations/archived-raw-serps/warcs/), search result pages from
the Wayback Machine in Chinese, German, Russian, Korean, French, Japanese and English, plus one page
with no main text. They carry a real-world quirk: every status line reads `HTTP/1.1 HTTP/1.1 200 OK`.

Run: python data/build_warc_real.py [--sdist archive-query-log-1.2.26.tar.gz]
(without --sdist the sdist is fetched with `pip download`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "sample" / "warc-real"
PACKAGE = "archive-query-log==1.2.26"
FOLDER = "archive-query-log-1.2.26/data/manual-annotations/archived-raw-serps/warcs/"
FILES = {  # file -> what it holds (language as py3langid labels the extracted text)
    "baidu-zhong-guo-lian-tong-smsc-1372160086.warc.gz": "Baidu results, Chinese",
    "sogou-lofke-yi-kua-shi-chang-mai-mai-1333092705.warc.gz": "Sogou results, Chinese",
    "chefkoch-spaghetti-mit-gemsesauce-1190132272.warc.gz": "Chefkoch recipe search, German",
    "vk-000-space-marine-1363614912.warc.gz": "VK search, Russian",
    "naver-sejongmunhwahoegwan-daegeugjang-1652993423.warc.gz": "Naver results, Korean",
    "qwant-lombocruralgie-francais-1656441384.warc.gz": "Qwant results, French",
    "youtube-shang-yue-xian-rupu-1582390054.warc.gz": "YouTube search, Japanese",
    "stackoverflow-objective-c-1354546520.warc.gz": "Stack Overflow search, English",
    "google-conflict-middle-east-wikipedia-1636797028.warc.gz": "Google results, English",
    "ecosia-hallam-f-c-1596174558.warc.gz": "Ecosia results, English",
    "qwant-attaque-a-tunis-1433356632.warc.gz": "Qwant page with no main text",
}

README = """# Real WARC sample: archived search result pages

Built by `data/build_warc_real.py`, byte for byte, from the PyPI sdist
`{package}`, folder `{folder}`.
They are search engine result pages the Webis Group archived from the Wayback Machine
for the Archive Query Log. Licence: MIT, copyright (c) 2021 Webis Group; the licence
text is in `LICENSE-archive-query-log` beside this file.

Each file holds one `request` and one `response` record. Every status line reads
`HTTP/1.1 HTTP/1.1 200 OK` (the writing tool put the protocol in twice), and the
bodies are stored decoded although the headers say `Transfer-Encoding: chunked`
and `Content-Encoding: gzip`: real-world quirks the `warc` reader must survive.

| file | bytes | what |
| --- | --- | --- |
{rows}
"""


def sdist(path: Path | None, work: Path) -> Path:
    if path:
        return path
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", PACKAGE,
                    "-d", str(work)], check=True)
    return next(work.glob("archive-query-log-*.tar.gz"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdist", type=Path, help="archive-query-log-1.2.26.tar.gz, already downloaded")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(sdist(args.sdist, Path(tmp))) as tar:
        for name in FILES:
            (OUT / name).write_bytes(tar.extractfile(FOLDER + name).read())
        licence = tar.extractfile(FOLDER.split("/")[0] + "/LICENSE").read()
    (OUT / "LICENSE-archive-query-log").write_bytes(licence)
    rows = "\n".join(f"| `{n}` | {(OUT / n).stat().st_size:,} | {what} |" for n, what in FILES.items())
    (OUT / "README.md").write_text(README.format(package=PACKAGE, folder=FOLDER, rows=rows))
    print(f"wrote {len(FILES)} WARC files ({sum((OUT / n).stat().st_size for n in FILES):,} bytes) to {OUT}")


if __name__ == "__main__":
    main()
