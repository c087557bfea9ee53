"""The main text of an HTML page: resiliparse's main content, with the tables and paragraphs its rules
dropped from inside the main text put back.

resiliparse drops any element whose text is mostly link text (a list above 20%, a short block above
60%): right for menus and link lists, wrong for documentation, whose tables of linked names and short
sections full of cross-references go too (a quarter of Debian Reference's text). So the page is parsed
once and extracted twice, with and without the main-content rules, and between the first and the last
long line of the main content the dropped lines that are table rows or paragraphs come back; menus,
link lists and notices are short lines and stay out. Reader comments and post bylines are not main
text. Before either pass, page furniture goes: elements whose class names them as a page footer, a
cookie or consent notice, a copyright notice, a list of related articles, or a photo gallery,
slideshow, carousel or video playlist (captions and teasers of other media, not the article's prose).
resiliparse's own class rules match only whole names like `footer` or `cookie-banner`, and news pages
keep such blocks under names like `foot-right`, `cookiemsg`, `li-relatedtopics` or
`video-playlist__items`. Only the class is read, not the id: ids are often a heading's words
(`_kernel_and_related_modules`). benchmarks/extraction_quality.py measures the effect against
trafilatura.
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
# class words that name page furniture: a word starting with one of these (`foot` alone: not `football`)
FURNITURE_WORDS = ("foot", "cookie", "consent", "copyright", "related", "gallery", "slideshow", "carousel", "playlist")
FURNITURE = re.compile(r"(?<![a-z])(?:foot(?:er)?(?![a-z])|" + "|".join(FURNITURE_WORDS[1:]) + ")", re.IGNORECASE)
FURNITURE_SELECTOR = ", ".join(f'[class*="{word}" i]' for word in FURNITURE_WORDS)
WRAPPER_SHARE = 0.5  # an element holding this share of the page's text is a wrapper, whatever its class
NOT_WORD = re.compile(r"[^\w\n]+")
ASCII_NOT_WORD = bytes(c for c in range(128) if not re.match(rb"[\w\n]", bytes([c])))
BLANK_LINES = re.compile(r"\n{3,}")


def main_text(page: str) -> str:
    tree = HTMLTree.parse(page)
    _remove_furniture(tree)
    content = extract_plain_text(tree, main_content=True, **OPTIONS)
    page_text = extract_plain_text(tree, **OPTIONS)
    main, page_lines = content.split("\n"), page_text.split("\n")
    found = _positions(*_line_keys(main, page_lines))
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


def _remove_furniture(tree: HTMLTree) -> None:
    """Remove the elements whose class names them as page furniture (see FURNITURE), but never the page's
    main or article element, nor an element that holds most of the page's text (a wrapper whose class
    says `with-related-links`)."""
    body = tree.body
    if body is None:
        return
    page_chars = None
    for node in body.query_selector_all(FURNITURE_SELECTOR):
        if node.tag in ("main", "article") or not FURNITURE.search(node.getattr("class", "")):
            continue
        if page_chars is None:
            page_chars = len(body.text)
        if len(node.text) < WRAPPER_SHARE * page_chars:
            node.decompose()


def _line_keys(*texts: list[str]) -> list[list[str]]:
    """Each line's word characters only (its key, see _positions), computed once per distinct line: most
    main-content lines are page lines too, and the regex is the costliest step in Python here."""
    known: dict[str, str] = {}
    keyed = []
    for lines in texts:
        keys = []
        for line in lines:
            key = known.get(line)
            if key is None:  # ASCII first, by a byte table (ten times cheaper than the regex)
                key = line.encode().translate(None, ASCII_NOT_WORD).decode()
                key = known[line] = key if key.isascii() else NOT_WORD.sub("", key)
            keys.append(key)
        keyed.append(keys)
    return keyed


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
