"""A text layer in the order a reader sees it, not the order the PDF's content stream draws it.

PDFium gives text in content-stream order: a running head drawn last comes out after the body, and a
figure's right-hand box can come before its left-hand column. Here the page's text runs (a line of
PDFium's text, split where it jumps: a table row's cells, two columns' lines) are put in visual reading order by a recursive XY
cut: a block of runs is split at its widest empty band, across the page (between paragraphs, above a
table) or down it (a column gutter, at least COLUMN_GAP line heights wide, so that word gaps never
split a line); top before bottom, left before right. A block with no such band is a set of lines,
read top to bottom and left to right. Runs closer than a fifth of a line height join without a space
(a word set in two fonts).
"""

from __future__ import annotations

COLUMN_GAP = 1.5  # a gutter narrower than this many line heights is a gap between words, not columns
JOIN_GAP = 0.2  # runs closer than this many line heights are one word
Box = tuple[float, float, float, float, str]  # left, top, right, bottom (y down), text


def page_runs(textpage, height: float) -> list[Box]:
    """The text runs of a PDFium text page as boxes with y growing down the page. A line of PDFium's text
    that is one rectangle is one run; a line of several (a table row, a line that crosses a gutter, a
    change of font) is split character by character wherever the next character is not just right of the
    last."""
    text = textpage.get_text_range().replace("\ufffe", "\x02")  # PDFium's mark for a hyphen that broke a word
    runs: list[Box] = []
    start = 0
    for line in text.split("\r\n"):
        if line.strip():
            if textpage.count_rects(start, len(line)) == 1:
                left, bottom, right, top = textpage.get_rect(0)
                runs.append((left, height - top, right, height - bottom, line))
            else:
                runs.extend(_split_line(textpage, height, start, line))
        start += len(line) + 2
    return runs


def _split_line(textpage, height: float, start: int, line: str) -> list[Box]:
    import ctypes

    import pypdfium2.raw as raw

    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    runs: list[Box] = []
    run: list = []  # [left, top, right, bottom, chars]
    for i, char in enumerate(line, start):
        raw.FPDFText_GetCharBox(textpage.raw, i, left, right, bottom, top)
        x0, x1, y0, y1 = left.value, right.value, height - top.value, height - bottom.value
        if char.isspace() or x1 <= x0:
            if run:
                run[4].append(char)
            continue
        if run:
            size = max(run[3] - run[1], 1.0)
            middle = (y0 + y1) / 2
            if x0 < run[2] - size or x0 > run[2] + COLUMN_GAP * size or not run[1] - size / 2 < middle < run[3] + size / 2:
                runs.append((run[0], run[1], run[2], run[3], "".join(run[4])))
                run = []
        if run:
            run[0], run[1], run[2], run[3] = min(run[0], x0), min(run[1], y0), max(run[2], x1), max(run[3], y1)
            run[4].append(char)
        else:
            run = [x0, y0, x1, y1, [char]]
    if run:
        runs.append((run[0], run[1], run[2], run[3], "".join(run[4])))
    return runs


def visual_text(textpage, height: float) -> str:
    """The page's text layer in reading order: one line per text line."""
    return "\n".join(reading_order(page_runs(textpage, height)))


def reading_order(boxes: list[Box]) -> list[str]:
    if not boxes:
        return []
    unit = sorted(b[3] - b[1] for b in boxes)[len(boxes) // 2] or 1.0  # the median line height
    out: list[str] = []
    _cut(boxes, unit, out)
    return out


def _gaps(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The empty intervals (start, end) between overlapping spans."""
    spans = sorted(spans)
    gaps, end = [], spans[0][1]
    for lo, hi in spans[1:]:
        if lo > end:
            gaps.append((end, lo))
        end = max(end, hi)
    return gaps


def _cut(boxes: list[Box], unit: float, out: list[str]) -> None:
    across = _gaps([(b[1], b[3]) for b in boxes])
    down = [g for g in _gaps([(b[0], b[2]) for b in boxes]) if g[1] - g[0] >= COLUMN_GAP * unit]
    best_across = max(across, key=lambda g: g[1] - g[0], default=None)
    best_down = max(down, key=lambda g: g[1] - g[0], default=None)
    if best_down and _rows(boxes, best_down[0]):
        best_down = None  # a table or a list: its cells are read row by row
    if best_down and (not best_across or best_down[1] - best_down[0] >= best_across[1] - best_across[0]):
        at, axis = best_down[0], 0
    elif best_across:
        at, axis = best_across[0], 1
    else:
        out.extend(_lines(boxes, unit))
        return
    _cut([b for b in boxes if b[axis] < at], unit, out)
    _cut([b for b in boxes if b[axis] >= at], unit, out)


def _rows(boxes: list[Box], at: float) -> bool:
    """Whether the two sides of a gutter at x=`at` are the cells of rows (list marks beside their items;
    most runs have a partner on the same line across the gutter) rather than two columns of text (whose lines are long on both sides:
    two columns set with the same leading line up too)."""
    left = [b for b in boxes if b[0] < at]
    right = [b for b in boxes if b[0] >= at]

    def paired(box: Box, other: list[Box]) -> bool:
        middle = (box[1] + box[3]) / 2
        return any(o[1] <= middle <= o[3] for o in other)

    unit = max(b[3] - b[1] for b in boxes)
    if max(b[2] - b[0] for b in left) <= 3 * unit and all(paired(b, right) for b in left):
        return True  # bullets or item numbers, each beside its item's first line
    share = (sum(paired(b, right) for b in left) + sum(paired(b, left) for b in right)) / len(boxes)
    prose = all(len(side) >= 5 and sum(len(b[4]) for b in side) / len(side) >= 25 for side in (left, right))
    return share >= 0.5 and not prose


def _lines(boxes: list[Box], unit: float) -> list[str]:
    """Runs that overlap in height as lines, top to bottom; each line's runs left to right."""
    lines: list[list] = []  # [top, bottom, runs]
    for box in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        middle = (box[1] + box[3]) / 2
        if lines and lines[-1][0] <= middle <= lines[-1][1]:
            lines[-1][2].append(box)
            lines[-1][1] = max(lines[-1][1], box[3])
        else:
            lines.append([box[1], box[3], [box]])
    out = []
    for _, _, runs in lines:
        text, last = "", None
        for left, _, right, _, run in sorted(runs):
            if last is not None and not text.endswith((" ", "\x02")) and left - last > JOIN_GAP * unit:
                text += " "
            text += run
            last = right
        out.append(text.strip())
    return out
