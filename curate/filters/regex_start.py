"""Where a regex match can start: a character class of every character a match can begin with, read
from the parsed pattern, and a `finditer` that tries the pattern only at those positions (spaCy's infix
pattern opens its alternatives with look-behinds, which `re` otherwise tries at every position)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

try:
    from re import _parser
except ImportError:  # Python 3.10
    import sre_parse as _parser

BMP_END = 0xFFFF
CLASS_CATEGORIES = {_parser.CATEGORY_DIGIT: r"\d", _parser.CATEGORY_NOT_DIGIT: r"\D", _parser.CATEGORY_SPACE: r"\s",
                    _parser.CATEGORY_NOT_SPACE: r"\S", _parser.CATEGORY_WORD: r"\w", _parser.CATEGORY_NOT_WORD: r"\W"}


def gated_finditer(starts: Callable, match: Callable, string: str) -> Iterator[re.Match]:
    """`finditer`'s matches, tried only at the positions `starts` finds (every match starts at one, and
    none is empty); a look-behind still sees the characters before the position."""
    end = 0
    for candidate in starts(string):
        start = candidate.start()
        if start >= end and (m := match(string, start)):
            end = m.end()
            yield m


def start_class(pattern: re.Pattern) -> str | None:
    """A character class holding every character a match of `pattern` can start with (and every character
    beyond U+FFFF: `re` tests a class that lists such ranges one range at a time, one of the BMP at a
    glance); None where a match can be empty or the pattern uses more than literals, classes, groups,
    alternations, repeats and look-arounds."""
    items = _first_items(_parser.parse(pattern.pattern, pattern.flags))
    if items is None:
        return None
    ranges = [item for item in items if isinstance(item, tuple)]
    bmp = [(lo, min(hi, BMP_END)) for lo, hi in ranges if lo <= BMP_END]
    astral = [f"{re.escape(chr(BMP_END + 1))}-{re.escape(chr(sys.maxunicode))}"] if any(
        hi > BMP_END for _, hi in ranges) else []
    bmp_items = [f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in bmp]
    return "[" + "".join([*bmp_items, *astral, *(item for item in items if isinstance(item, str))]) + "]"


def _first_items(sequence) -> list[tuple[int, int] | str] | None:
    """The class items that a match of a parsed sequence can start with (None: unknown, or it can be empty)."""
    found: list[tuple[int, int] | str] = []
    for op, av in sequence:
        if op in (_parser.ASSERT, _parser.ASSERT_NOT, _parser.AT):
            continue  # zero width: the next item starts the match
        if op == _parser.LITERAL:
            return [*found, (av, av)]
        if op == _parser.IN:
            items = [_class_item(o, a) for o, a in av]
            return None if None in items else found + items
        if op == _parser.BRANCH:
            branches = [_first_items(branch) for branch in av[1]]
            return None if None in branches else found + [i for b in branches for i in b]
        if op == _parser.SUBPATTERN and not av[1] and not av[2]:  # a group that sets no flags
            inner = _first_items(av[3])
            return None if inner is None else found + inner
        if op not in (_parser.MAX_REPEAT, _parser.MIN_REPEAT) or (inner := _first_items(av[2])) is None:
            return None
        found += inner
        if av[0]:  # at least once: the match starts inside the repeat
            return found
    return None  # every item can be skipped: the match can be empty


def _class_item(op, av) -> tuple[int, int] | str | None:
    """A class item as a range of code points, or a category (`\\d`)."""
    if op == _parser.LITERAL:
        return av, av
    if op == _parser.RANGE:
        return av
    return CLASS_CATEGORIES.get(av) if op == _parser.CATEGORY else None  # a negated class: unknown
