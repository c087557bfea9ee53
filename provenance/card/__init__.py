"""Data cards: `gristmill card RUN_DIR... --out DIR` reads curation, tokenize and training folders and
writes card.md, a self-contained card.html, croissant.json (Croissant 1.0 + RAI) and
eu_ai_act_summary.json (the EU AI Act training-content summary template's fields)."""

from __future__ import annotations

import json
from pathlib import Path

from provenance.files import write_atomic

from . import croissant, euaiact, gather, html, markdown, sections

__all__ = ["build_card"]


def build_card(run_dirs: list[Path], out: Path) -> list[Path]:
    """Write the card files for `run_dirs` into `out` (created); their paths. ConfigError for a bad folder."""
    card = gather.gather([Path(d) for d in run_dirs])
    card["gristmill"] = _version()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [r["name"] for r in card["curation"]] or [Path(d).name for d in run_dirs]
    title = "Data card: " + ", ".join(names)
    secs = sections.build(card)
    files = {
        "card.md": markdown.render(secs, title),
        "card.html": html.render(secs, title),
        "croissant.json": json.dumps(croissant.build(card, out, "-".join(names)), indent=2),
        "eu_ai_act_summary.json": json.dumps(euaiact.build(card), indent=2),
        "card.json": json.dumps(card, indent=1, default=str),
    }
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("gristmill")
    except PackageNotFoundError:
        return "unknown"
