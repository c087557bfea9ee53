"""WARC reading figure: fastwarc (what the `warc` reader uses) against warcio, on the same real WARC files.

Each reader iterates the HTTP `response` records and reads every body (the raw payload after the HTTP
headers, as sent); nothing else. Before timing, both readers' records are checked to be the same: the
same count, the same WARC-Record-IDs in the same order, and the same payload bytes, which must also
match each record's WARC-Payload-Digest. Timing is the best of `--repeat` passes over all files, on the
gzip files as captured and on uncompressed copies.

Input: the Python documentation Debian's `python3.11-doc` ships, served on 127.0.0.1 and captured with
warcio (`benchmarks/commoncrawl.py`'s `capture`), so records carry real HTTP headers.

Run: apt-get install python3.11-doc; .venv/bin/python benchmarks/warc_readers.py [--files 4] [--repeat 10]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.commoncrawl import DOCS, capture  # noqa: E402
from tests.warc_records import READERS, check_same_records, timed  # noqa: E402


def table(variants: dict[str, list[Path]], repeat: int) -> list[str]:
    lines = [f"| files | reader | response records | seconds (best of {repeat}) | records/s | "
             "MB/s (WARC, uncompressed) | MB/s (file on disk) | vs warcio |", "|---|---|---|---|---|---|---|---|"]
    for label, paths in variants.items():
        raw_mb = sum(_raw_size(p) for p in paths) / 1e6
        disk_mb = sum(p.stat().st_size for p in paths) / 1e6
        results = {name: timed(read, paths, repeat) for name, read in READERS.items()}
        for name, (seconds, records, _) in results.items():
            lines.append(f"| {label} | {name} | {records} | {seconds:.3f} | {records / seconds:,.0f} | "
                         f"{raw_mb / seconds:.1f} | {disk_mb / seconds:.1f} | {results['warcio'][0] / seconds:.2f}x |")
    return lines


def _raw_size(path: Path) -> int:
    if path.suffix != ".gz":
        return path.stat().st_size
    with gzip.open(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-warc-readers")
    args = ap.parse_args()
    if not DOCS.exists():
        sys.exit(f"{DOCS} is missing: apt-get install python3.11-doc")
    shutil.rmtree(args.work, ignore_errors=True)
    gz = capture(args.work / "gz", args.files)
    plain = []
    (args.work / "plain").mkdir()
    for p in gz:
        out = args.work / "plain" / p.name.removesuffix(".gz")
        out.write_bytes(gzip.decompress(p.read_bytes()))
        plain.append(out)
    records = check_same_records(gz) + check_same_records(plain)
    raw_mb = sum(p.stat().st_size for p in plain) / 1e6
    print(f"input: {args.files} WARC files captured from {DOCS} over HTTP, {raw_mb:.1f} MB uncompressed, "
          f"{sum(p.stat().st_size for p in gz) / 1e6:.1f} MB gzip; {records // 2} response records; fastwarc and "
          "warcio read the same records (ids, order, payload bytes = WARC-Payload-Digest) in both forms\n")
    print("\n".join(table({"gzip (.warc.gz)": gz, "uncompressed (.warc)": plain}, args.repeat)))


if __name__ == "__main__":
    main()
