"""Benchmark input: the bundled sample plus more real third-party text found on this machine
(every stdlib module, Debian changelogs and license texts, Wikipedia sections), as documents to write
as JSONL shards with tests/shards.py's `write_shards`."""

from __future__ import annotations

import glob
import gzip
import json
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def documents() -> list[dict]:
    docs = []
    for f in sorted((ROOT / "data" / "sample").glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            docs += [{"id": f"{f.name}:{i}", **json.loads(line)} for i, line in enumerate(fh)]
    # Wikipedia articles cut into sections: many shorter web-like documents
    for d in [d for d in docs if d["source"] == "web/wikipedia"]:
        for i, section in enumerate(d["text"].split("\n\n")):
            if len(section) > 200:
                docs.append({"id": f"{d['id']}#{i}", "text": section, "source": "web/wikipedia-sections"})
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for p in sorted(stdlib.rglob("*.py"))[:1500]:
        if "test" not in p.parts and p.stat().st_size < 200_000:
            docs.append({"id": f"py:{p.relative_to(stdlib)}", "text": p.read_text("utf-8", "replace"),
                         "source": "code/python"})
    for f in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[:400]:
        docs.append({"id": f"changelog:{f}", "text": gzip.open(f, "rt", encoding="utf-8", errors="replace").read()[:50_000],
                     "source": "docs/changelog"})
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        if Path(f).is_file():
            docs.append({"id": f"license:{f}", "text": Path(f).read_text("utf-8", "replace"), "source": "legal/licenses"})
    return docs
