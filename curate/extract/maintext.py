"""The main text of an HTML page: resiliparse's main content, with the tables and paragraphs its rules
dropped from inside the main text put back.

resiliparse drops any element whose text is mostly link text (a list above 20%, a short block above
60%): right for menus and link lists, wrong for documentation, whose tables of linked names and short
sections full of cross-references go too (a quarter of Debian Reference's text). So the page is parsed
once and extracted twice, with and without the main-content rules, and between the first and the last
long line of the main content the dropped lines that are table rows or paragraphs come back; menus,
link lists and notices are short lines and stay out. Reader comments and post bylines are not main
text. benchmarks/extraction_quality.py measures the effect against trafilatura.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

OPTIONS = {"alt_texts": False, "comments": False, "post_meta": False}
ANCHOR_CHARS = 30  # main-content lines at least this long mark where the main text starts and ends
PARAGRAPH_CHARS = 150  # a dropped line this long is prose, not a menu entry or a notice
CELL_SEPARATOR = "\t\t"  # resiliparse ends each table cell with two tabs
NOT_WORD = re.compile(r"[^\w\n]+")
BLANK_LINES = re.compile(r"\n{3,}")


def main_text(page: str) -> str:
    tree = HTMLTree.parse(page)
    content = extract_plain_text(tree, main_content=True, **OPTIONS)
    page_text = extract_plain_text(tree, **OPTIONS)
    main, page_lines = content.split("\n"), page_text.split("\n")
    found = _positions(NOT_WORD.sub("", content).split("\n"), NOT_WORD.sub("", page_text).split("\n"))
    anchors = [j for line, j in zip(main, found) if j is not None and len(line.strip()) >= ANCHOR_CHARS]
    if not anchors:
        return content
    out, before, restored = [], None, False
    for line, j in zip(main, found):
        if j is not None:
            if before is not None and anchors[0] <= before and j <= anchors[-1]:
                back = [s for s in page_lines[before + 1:j]
                        if s.strip() and (CELL_SEPARATOR in s or len(s.strip()) >= PARAGRAPH_CHARS)]
                if back:
                    out.extend(["", *back, ""])
                    restored = True
            before = j
        out.append(line)
    return BLANK_LINES.sub("\n\n", "\n".join(out)).strip() if restored else content


def _positions(main_keys: list[str], page_keys: list[str]) -> list[int | None]:
    """For each main-content line, the index of the page line it is, matched in order; None for blank
    lines and lines not found. Lines are compared by their word characters only (these keys): the
    main-content pass also drops inline elements (a heading's permalink sign, an arrow image)."""
    where = defaultdict(list)
    for i, key in enumerate(page_keys):
        if key:
            where[key].append(i)
    found, start = [], 0
    for key in main_keys:
        places = where.get(key) if key else None
        k = bisect.bisect_left(places, start) if places else 0
        if places and k < len(places):
            found.append(places[k])
            start = places[k] + 1
        else:
            found.append(None)
    return found
