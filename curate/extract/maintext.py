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


A careful reader's rules come on top (benchmarks/extraction_quality.py chose them on its tune pages):
- the headline is the page's title (`extract`'s first value, the `title` column), not text: the first
  `h1` (of the article or main element where there is one), else `og:title`, else `<title>`; the
  heading is removed before extraction, and leading lines that repeat the title or the page's
  description (the standfirst) go too;
- what a browser would not show never reaches the text: elements marked `hidden`, `aria-hidden="true"`
  or `display:none` / `visibility:hidden` inline, and `template` and `noscript` content (hover cards and
  tooltips otherwise glue their text into the names they annotate);
- furniture also names tickers, teasers, promos, polls, newsletter boxes, share rows, trending or
  most-read lists, recommendation widgets and subscription prompts (FURNITURE_WORDS; not `paywall`: pages mark the
  article's own paragraphs so); blockquote embeds
  (a tweet, an Instagram post) are article content and lose the class words that would drop them;
- lines that are labels (`ADVERTISEMENT`, `Anzeige`, `광고`) or rows of share buttons are dropped, and a
  short line seen earlier on the page (the same caption again and again) is kept once.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import defaultdict

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

OPTIONS = {"alt_texts": False, "comments": False, "post_meta": False}
ANCHOR_CHARS = 30  # main-content lines at least this long mark where the main text starts and ends
PARAGRAPH_CHARS = 150  # a dropped line this long is prose, not a menu entry or a notice
CELL_SEPARATOR = "\t\t"  # resiliparse ends each table cell with two tabs
# class words that name page furniture: a word starting with one of these (`foot` alone: not `football`)
FURNITURE_WORDS = ("foot", "cookie", "consent", "copyright", "related", "gallery", "slideshow", "carousel", "playlist",
                   "ticker", "breaking", "teaser", "promo", "poll", "newsletter", "share", "sharing", "trending",
                   "popular", "mostread", "most-read", "recommend", "outbrain", "taboola", "subscri")
FURNITURE = re.compile(r"(?<![a-z])(?:foot(?:er)?(?![a-z])|poll(?![a-z])|polls|" + "|".join(
    w for w in FURNITURE_WORDS[1:] if w != "poll") + ")", re.IGNORECASE)
FURNITURE_SELECTOR = ", ".join(f'[class*="{word}" i]' for word in FURNITURE_WORDS)
INVISIBLE_SELECTOR = ", ".join(['[hidden]', '[aria-hidden="true" i]', 'template', 'noscript'] + [
    f'[style*="{p}:{s}{v}" i]' for p, v in (("display", "none"), ("visibility", "hidden")) for s in ("", " ")])
EMBED_SELECTOR = "blockquote[class]"  # twitter-tweet, instagram-media, tiktok-embed: the quoted post is content
TITLE_SELECTORS = ("article h1", "main h1", "h1")
PERMALINK = " ¶#§"  # a heading's permalink sign (Sphinx's `¶`) is not part of the title
TITLE_PREFIX = 0.6  # a heading and a page title this much alike at their start name the same thing
TITLE_CHARS = 300  # a longer h1 is markup misuse (a wrapper), not a headline
LEAD_LINES = 3  # lines at the top that may repeat the headline
SHORT_LINE = 200  # labels, share rows and captions are no longer than this
CAPTION_SELECTOR = 'figcaption, [class*="caption" i], [class*="credit" i]'
LABELS = frozenset("""advertisement advertisements advertising ad ads sponsored anzeige werbung publicidade publicidad
publicité pubblicità pubblicita реклама 광고 広告 广告 廣告 share tweet print email""".split()) | {
    "skip advertisement", "sponsored content", "story continues below advertisement", "article continues below",
    "continue reading below", "share this", "share this article", "share this story", "share article",
    "scroll to continue with content", "advertisement scroll to continue with content"}
SHARE_WORDS = frozenset("""facebook twitter x linkedin whatsapp email e mail print share shares sharing pinterest
reddit telegram copy link links messenger flipboard tumblr vk line kakaotalk kakao 카카오톡 카카오스토리 공유 공유하기
teilen condividi compartilhar compartilhe partager compartir поделиться シェア ツイート はてブ tweet comments comment
url 0""".split())
LABEL_OR_SHARE_FIRST = frozenset(label.split()[0] for label in LABELS) | SHARE_WORDS
WRAPPER_SHARE = 0.5  # an element holding this share of the page's text is a wrapper, whatever its class
NOT_WORD = re.compile(r"[^\w\n]+")
ASCII_NOT_WORD = bytes(c for c in range(128) if not re.match(rb"[\w\n]", bytes([c])))
BLANK_LINES = re.compile(r"\n{3,}")
WORDS = re.compile(r"\w+")


def main_text(page: str) -> str:
    return extract(page)[1]


def extract(page: str) -> tuple[str | None, str]:
    """(title, main text) of an HTML page."""
    tree = HTMLTree.parse(page)
    title = _title(tree)
    _remove_hidden(tree)
    _remove_furniture(tree)
    return title, _tidy(_restored(tree), title, _captions(tree))


def _restored(tree: HTMLTree) -> str:
    content = extract_plain_text(tree, main_content=True, **OPTIONS)
    page_text = extract_plain_text(tree, **OPTIONS)
    main, page_lines = content.split("\n"), page_text.split("\n")
    found = _positions(*_line_keys(content, page_text))
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


def _title(tree: HTMLTree) -> str | None:
    """The page's headline: the first `h1` (in the article or main element first) that the page's own
    title (`og:title`, else `<title>`) names, and which is removed from the tree; else that own title. An
    `h1` the title does not name is the site's logo or a section name; with no own title, the first `h1`."""
    named = ""
    if tree.head is not None:
        node = tree.head.query_selector('meta[property="og:title" i][content]')
        named = " ".join((node.getattr("content") if node is not None else tree.title or "").split())
    named_key = _key(named)
    body = tree.body
    if body is not None:
        for selector in TITLE_SELECTORS:
            for node in body.query_selector_all(selector):
                text = " ".join(node.text.split()).rstrip(PERMALINK)
                key = _key(text)
                if key and len(text) <= TITLE_CHARS and (not named_key or _names(named_key, key)):
                    node.decompose()
                    return text
    return named or None


def _names(named: str, key: str) -> bool:
    """Whether a page title names a heading: one holds the other, or they share most of a beginning (an
    author's name after the heading, a photo credit after the title)."""
    shared = len(os.path.commonprefix([named, key]))
    return key in named or named in key or shared >= max(8, TITLE_PREFIX * min(len(named), len(key)))


def _captions(tree: HTMLTree) -> set[str]:
    """The keys of the lines of captions and photo credits: the lines a page repeats that a reader reads
    once (documentation repeats its own sentences, `Return value: New reference.`, and code its lines)."""
    return {_key(line) for node in tree.document.query_selector_all(CAPTION_SELECTOR)
            for line in node.text.split("\n")}


def _remove_hidden(tree: HTMLTree) -> None:
    """Remove what a browser would not show (INVISIBLE_SELECTOR), and take the class off blockquote embeds
    so that no rule reads them as social-media furniture."""
    root = tree.document
    for node in root.query_selector_all(INVISIBLE_SELECTOR):
        node.decompose()
    for node in root.query_selector_all(EMBED_SELECTOR):
        node.setattr("class", "")


def _tidy(text: str, title: str | None, captions: set[str]) -> str:
    """Drop the lines a reader skips (see the module's notes): the headline repeated at the top, labels and
    share rows, and captions already seen."""
    lead = {_key(title)} - {""}
    seen, out, top = set(), [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            out.append(line)
            continue
        top += 1
        if top <= LEAD_LINES and lead and _key(stripped) in lead:
            continue
        if CELL_SEPARATOR not in line and len(stripped) <= SHORT_LINE:
            if _label_or_share_row(stripped):
                continue
            key = _key(stripped) if captions else None
            if key in captions:
                if key in seen:
                    continue
                seen.add(key)
        out.append(line)
    return BLANK_LINES.sub("\n\n", "\n".join(out)).strip()


def _label_or_share_row(line: str) -> bool:
    """Whether a line's words are a label or share buttons only; a line whose first word starts neither is
    neither, which spares finding all its words."""
    lowered = line.lower()
    first = WORDS.search(lowered)
    if first is None or first.group() not in LABEL_OR_SHARE_FIRST:
        return False
    words = WORDS.findall(lowered)
    return " ".join(words) in LABELS or all(w in SHARE_WORDS for w in words)


def _key(text: str | None) -> str:
    return NOT_WORD.sub("", text).lower() if text else ""


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


def _line_keys(*texts: str) -> list[list[str]]:
    """Each line's word characters only (its key, see _positions). The regex is the costliest step in
    Python here, so ASCII goes first, by a byte table over each whole text at once (newlines stay); the
    lines left with other characters get the regex, once per distinct line (most main-content lines are
    page lines too)."""
    known: dict[str, str] = {}
    keyed = []
    for text in texts:
        keys = text.encode().translate(None, ASCII_NOT_WORD).decode().split("\n")
        for i, key in enumerate(keys):
            if not key.isascii():
                if key not in known:
                    known[key] = NOT_WORD.sub("", key)
                keys[i] = known[key]
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
