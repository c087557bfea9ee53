"""OCR engines behind one call: `engine(image) -> (text, mean confidence 0..1)`.

`tesseract` runs Debian's tesseract-ocr (page segmentation `--psm 3`, one thread) on the image piped in,
and rebuilds the text from its word table: lines as tesseract found them, a blank line between
paragraphs, a round list bullet it read as `e` or `°` given back as `•` (judged by its box), and the space
it puts into `http: //` taken out. `rapidocr` runs the ONNX models its wheel ships (no download), in-process on one thread, and
puts its text boxes in reading order: boxes whose middles share a line are one line, left to right, and a
gap taller than a line starts a paragraph. `auto` is tesseract where it is installed (lower CER on our
measurement, see benchmarks/pdf_ocr.py), else rapidocr.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable

import numpy as np
from PIL import Image

Engine = Callable[[Image.Image], tuple[str, float]]
_ENGINES: dict[tuple[str, str], Engine] = {}


def resolve(name: str) -> str:
    """The engine `auto` means here; an unavailable engine is an error worth a clear message."""
    if name == "auto":
        return "tesseract" if shutil.which("tesseract") else "rapidocr"
    if name == "tesseract" and not shutil.which("tesseract"):
        raise RuntimeError("ocr_engine: tesseract needs the tesseract binary (apt-get install tesseract-ocr "
                           "tesseract-ocr-eng); use ocr_engine: rapidocr for the pip-only engine")
    return name


def get(name: str, languages: str = "eng") -> Engine:
    key = (name, languages)
    if key not in _ENGINES:
        _ENGINES[key] = Tesseract(languages) if name == "tesseract" else RapidOcr()
    return _ENGINES[key]


class Tesseract:
    def __init__(self, languages: str):
        self.languages = languages

    def __call__(self, image: Image.Image) -> tuple[str, float]:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        done = subprocess.run(["tesseract", "-", "-", "--psm", "3", "-l", self.languages, "tsv"],
                              input=buf.getvalue(), capture_output=True, check=True,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        return from_tsv(done.stdout.decode("utf-8", "replace"))


BULLET_LIKE = set("e°«»©®¢•·*")  # what tesseract's eng model reads a round bullet as
URL_SPACE = re.compile(r"\b(https?|ftp|file): //")


def from_tsv(tsv: str) -> tuple[str, float]:
    """Text (lines, blank lines between paragraphs) and mean word confidence from tesseract's TSV."""
    paragraphs: dict[tuple, dict[tuple, list]] = {}
    confidences = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        if row.get("level") != "5" or not word:
            continue
        paragraph = (int(row["page_num"]), int(row["block_num"]), int(row["par_num"]))
        line = paragraphs.setdefault(paragraph, {}).setdefault((*paragraph, int(row["line_num"])), [])
        line.append((word, int(row["left"]), int(row["width"]), int(row["height"])))
        confidences.append(max(0.0, float(row["conf"])))
    heights = sorted(w[3] for lines in paragraphs.values() for line in lines.values() for w in line)
    typical = heights[len(heights) // 2] if heights else 0
    text = "\n\n".join("\n".join(" ".join(bullets(line, typical)) for line in lines.values())
                       for lines in paragraphs.values())
    return URL_SPACE.sub(r"\1://", text), (sum(confidences) / len(confidences) / 100 if confidences else 0.0)


def bullets(line: list[tuple[str, int, int, int]], typical: int) -> list[str]:
    """The line's words, a list bullet read as `e` or `°` given back as `•`: a lone mark that opens the
    line, about as wide as it is high, smaller than a typical word, and set well apart from the next word
    (an Italian `e` at a line's start is a letter's height, a space's width from its neighbour)."""
    words = [w[0] for w in line]
    if len(line) > 1 and words[0] in BULLET_LIKE:
        _, left, width, height = line[0]
        gap = line[1][1] - (left + width)
        if 0.6 * height <= width <= 1.5 * height and height < 0.75 * typical and gap >= 1.5 * height:
            words[0] = "\u2022"
    return words


class RapidOcr:
    def __init__(self):
        from rapidocr import RapidOCR  # onnxruntime starts here, only in processes that OCR

        self.engine = RapidOCR(params={"EngineConfig.onnxruntime.intra_op_num_threads": 1,
                                       "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                                       "Global.log_level": "error"})

    def __call__(self, image: Image.Image) -> tuple[str, float]:
        result = self.engine(np.asarray(image.convert("RGB")))
        if result.boxes is None or not result.txts:
            return "", 0.0
        boxes = [(float(b[:, 1].min()), float(b[:, 1].max()), float(b[:, 0].min()), t)
                 for b, t in zip(np.asarray(result.boxes), result.txts)]
        return in_reading_order(boxes), float(np.mean(result.scores))


def in_reading_order(boxes: list[tuple[float, float, float, str]]) -> str:
    """Text boxes (top, bottom, left, text) as lines and paragraphs."""
    lines: list[list] = []  # [top, bottom, [(left, text)]]
    for top, bottom, left, text in sorted(boxes):
        middle = (top + bottom) / 2
        if lines and lines[-1][0] <= middle <= lines[-1][1]:
            lines[-1][2].append((left, text))
            lines[-1][1] = max(lines[-1][1], bottom)
        else:
            lines.append([top, bottom, [(left, text)]])
    out, last_bottom = [], None
    for top, bottom, parts in lines:
        if last_bottom is not None and top - last_bottom > (bottom - top):
            out.append("")
        out.append(" ".join(t for _, t in sorted(parts)))
        last_bottom = bottom
    return "\n".join(out)
