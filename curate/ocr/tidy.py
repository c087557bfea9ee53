"""Page text as a reader expects it: `\\r\\n` and stray spaces gone, words broken at a line end joined.

A line ending in letter + hyphen whose next line starts with a lower-case letter is one word split by
the typesetter (`recog-\\nnition` -> `recognition`); `well-\\nKnown`, `C-\\n3PO` and a hyphen after a
space (a dash) stay. Pages are joined with a blank line, and a word split across the page break is
joined the same way.
"""

from __future__ import annotations

import re

SPLIT_WORD = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-z\u00e0-\u00ff])")
SOFT_HYPHEN = re.compile("\u00ad[ \t]*\n?[ \t]*")
TRAILING = re.compile(r"[ \t]+\n")
BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.replace("\x02\n", "").replace("\x02", "")  # PDFium: a hyphen that broke a word at a line end
    text = SOFT_HYPHEN.sub("", text)
    text = SPLIT_WORD.sub("", text)
    text = TRAILING.sub("\n", text)
    return BLANK_RUNS.sub("\n\n", text).strip()


def join_pages(pages: list[str]) -> str:
    """Pages in order, a blank line between them; a word hyphenated over the break is joined."""
    return tidy("\n\n".join(p for p in pages if p).replace("-\n\n", "-\n"))
