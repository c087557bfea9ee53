"""card.md: the sections as GitHub-flavoured Markdown (tables and text; the charts are in card.html)."""

from __future__ import annotations

from .sections import Chart, Example, Section, Table


def cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render(sections: list[Section], title: str) -> str:
    out = [f"# {title}", "", "Charts: see card.html beside this file. Machine-readable: croissant.json, "
           "eu_ai_act_summary.json.", ""]
    out += [f"- [{s.title}](#{s.id}){'' if s.used else ' (not used)'}" for s in sections]
    for s in sections:
        out += ["", f'<a id="{s.id}"></a>', f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Table):
                out += ["| " + " | ".join(cell(h) for h in b.header) + " |", "|" + "---|" * len(b.header)]
                out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in b.rows]
                out.append("")
            elif isinstance(b, Chart):
                out += [f"*Chart in card.html: {b.title}.*", ""]
            elif isinstance(b, Example):
                body = b.text.replace("```", "'''") or "(empty)"
                out += [f"**{b.label}**", "", "```text", body, "```", ""]
            else:
                out += [str(b), ""]
    return "\n".join(out).rstrip() + "\n"
