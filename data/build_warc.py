"""Build the bundled WARC sample (data/sample/warc/*.warc.gz): real HTML pages that Debian packages ship
under /usr/share/doc (libxslt, nodejs, valgrind, libffi docs...), served on 127.0.0.1 and captured with
warcio, so the records carry real HTTP headers. A few non-HTML and error responses are captured too.

Run: python data/build_warc.py [--pages 120]. Requires the pages to exist on this machine.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

OUT = Path(__file__).parent / "sample" / "warc"
DOCS = Path("/usr/share/doc")


def pages(limit: int) -> list[Path]:
    found = sorted(p for p in DOCS.rglob("*.html") if p.is_file() and p.stat().st_size < 150_000)
    by_package: dict[str, list[Path]] = {}
    for p in found:
        by_package.setdefault(p.relative_to(DOCS).parts[0], []).append(p)
    picked: list[Path] = []
    while len(picked) < limit and any(by_package.values()):  # round-robin over packages for variety
        for name in sorted(by_package):
            if by_package[name] and len(picked) < limit:
                picked.append(by_package[name].pop(0))
    return picked


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=120)
    args = ap.parse_args()
    from warcio.capture_http import capture_http  # noqa: I001 - must come before requests
    import requests  # after capture_http, as warcio requires

    handler = functools.partial(QuietHandler, directory=str(DOCS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    OUT.mkdir(parents=True, exist_ok=True)
    urls = [f"{base}/{p.relative_to(DOCS)}" for p in pages(args.pages)]
    urls += [f"{base}/libffi8/copyright", f"{base}/nodejs/no-such-page.html"]  # text/plain, and a 404
    with capture_http(str(OUT / "usr-share-doc.warc.gz")):
        for url in urls:
            requests.get(url, timeout=10)
    server.shutdown()
    print(f"captured {len(urls)} URLs into {OUT}")


if __name__ == "__main__":
    main()
