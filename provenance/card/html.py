"""card.html: one self-contained page (inline CSS, charts as base64 PNGs, no scripts, no web fonts,
nothing fetched), so it opens the same offline, in a mail attachment or an archive."""

from __future__ import annotations

import base64
import re
from html import escape

from . import plots
from .sections import Chart, Example, Section, Table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:1.7em;margin:.2em 0 .4em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:4px;
margin-top:2em}
nav ol{columns:2;font-size:.92em}nav a{color:#2a5a92;text-decoration:none}
.unused{color:#777}.unused h2{color:#888}.badge{font-size:.7em;background:#eee;color:#666;border-radius:4px;
padding:1px 6px;margin-left:8px;vertical-align:middle}
table{border-collapse:collapse;margin:10px 0 16px;font-size:.85em;min-width:55%;max-width:100%}
th,td{border-bottom:1px solid #e6e6e6;padding:4px 10px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}th{background:#f3f5f8;white-space:nowrap}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{background:#f1f1f1;border-radius:3px;padding:0 3px;font-size:.9em}
img{max-width:100%;height:auto;display:block;margin:8px 0}
details{margin:6px 0;border:1px solid #e3e3e3;border-radius:4px;padding:4px 8px}
summary{cursor:pointer;font-size:.88em}pre{white-space:pre-wrap;font-size:.8em;background:#f7f7f7;padding:6px;
max-height:14em;overflow:auto}
"""


def numeric(v) -> bool:
    s = str(v).replace(",", "").replace("%", "").replace(" ", "")
    return bool(s) and s.lstrip("-").replace(".", "", 1).rstrip("BKMGT").replace(".", "", 1).isdigit()


def render(sections: list[Section], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{escape(title)}</h1>",
           "<p>Machine-readable beside this page: <code>croissant.json</code> (Croissant 1.0 + RAI) and "
           "<code>eu_ai_act_summary.json</code>.</p><nav><ol>"]
    out += [f'<li><a href="#{s.id}">{escape(s.title)}</a>{"" if s.used else " (not used)"}</li>' for s in sections]
    out.append("</ol></nav>")
    for s in sections:
        badge = "" if s.used else '<span class="badge">not used</span>'
        out.append(f'<section id="{s.id}"{"" if s.used else " class=unused"}><h2>{escape(s.title)}{badge}</h2>')
        for b in s.blocks:
            out.append(block(b))
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def block(b) -> str:
    if isinstance(b, Table):
        right = [bool(b.rows) and all(numeric(r[i]) or r[i] == "-" for r in b.rows) for i in range(len(b.header))]
        head = "".join(f'<th{" class=n" if right[i] else ""}>{escape(str(h))}</th>' for i, h in enumerate(b.header))
        rows = "".join("<tr>" + "".join(f'<td{" class=n" if right[i] or numeric(v) else ""}>{escape(str(v))}</td>'
                                        for i, v in enumerate(r)) + "</tr>" for r in b.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(b, Chart):
        data = base64.b64encode(plots.png(b)).decode("ascii")
        return f'<img alt="{escape(b.title)}" src="data:image/png;base64,{data}">'
    if isinstance(b, Example):
        return f"<details><summary>{escape(b.label)}</summary><pre>{escape(b.text or '(empty)')}</pre></details>"
    return f"<p>{inline(str(b))}</p>"


def inline(s: str) -> str:
    """The two Markdown marks the sections use, **bold** and `code`, as HTML."""
    text = escape(s)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
