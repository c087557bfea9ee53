"""A page image made ready for OCR: grey, turned upright, deskewed.

Orientation (0/90/180/270) comes from tesseract's orientation detection (`--psm 0`, the `osd` model
Debian's tesseract-ocr ships) where tesseract is installed; without it, from which way the text lines run
(rows of ink give a spiky horizontal projection, columns a spiky vertical one), which tells 0 from 90
but not 0 from 180. Skew is the small angle (up to MAX_SKEW degrees) at which the rows of ink are
sharpest, found on a reduced copy of the page: coarse steps, then fine ones round the best.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
from PIL import Image, ImageOps

MAX_SKEW = 10.0  # degrees
SMALL = 1000  # the long side, in pixels, of the copy the angles are judged on


def prepare(image: Image.Image, use_osd: bool = True) -> tuple[Image.Image, int, float]:
    """The image upright and straight, with the rotation (degrees clockwise) and skew applied."""
    grey = ImageOps.grayscale(image) if image.mode != "L" else image
    turn = osd_rotation(grey) if use_osd and shutil.which("tesseract") else profile_rotation(grey)
    if turn:
        grey = grey.rotate(-turn, expand=True)
    angle = skew(grey)
    if abs(angle) >= 0.1:
        grey = grey.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return grey, turn, angle


def ink(grey: Image.Image) -> np.ndarray:
    """A reduced copy as 1.0 where there is ink (darker than the page's mid-level), else 0.0."""
    scale = SMALL / max(grey.size)
    small = grey.resize((max(1, int(grey.width * scale)), max(1, int(grey.height * scale))),
                        Image.BILINEAR) if scale < 1 else grey
    a = np.asarray(small, dtype=np.float32)
    threshold = (float(a.max()) + float(a.min())) / 2
    return (a < threshold).astype(np.float32)


def sharpness(mask: np.ndarray) -> float:
    """How spiky the row profile is: text lines straight across give tall rows of ink and empty gaps."""
    rows = mask.sum(axis=1)
    return float(np.square(np.diff(rows)).sum())


def skew(grey: Image.Image) -> float:
    """The angle (degrees, counter-clockwise) that makes the text lines horizontal."""
    mask = ink(grey)
    if mask.sum() < 50:
        return 0.0
    img = Image.fromarray((mask * 255).astype(np.uint8))

    def score(angle: float) -> float:
        return sharpness(np.asarray(img.rotate(angle, resample=Image.NEAREST, expand=True), dtype=np.float32))

    best = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 1.0), key=score)
    return float(max(np.arange(best - 1.0, best + 1.01, 0.1), key=score))


def profile_rotation(grey: Image.Image) -> int:
    """90 where the text lines run up the page (rows of ink are vertical), else 0."""
    mask = ink(grey)
    if mask.sum() < 50:
        return 0
    return 90 if sharpness(mask.T) > 1.5 * sharpness(mask) else 0


def osd_rotation(grey: Image.Image) -> int:
    """tesseract's orientation detection: degrees clockwise to turn the page upright (0 when unsure)."""
    scale = min(1.0, 2000 / max(grey.size))
    small = grey.resize((int(grey.width * scale), int(grey.height * scale))) if scale < 1 else grey
    from io import BytesIO
    buf = BytesIO()
    small.save(buf, format="PNG")
    try:
        done = subprocess.run(["tesseract", "-", "-", "--psm", "0"], input=buf.getvalue(), capture_output=True,
                              timeout=60, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return 0
    out = done.stdout.decode("utf-8", "replace")
    rotate = re.search(r"Rotate:\s*(\d+)", out)
    confidence = re.search(r"Orientation confidence:\s*([\d.]+)", out)
    if not rotate or not confidence or float(confidence.group(1)) < 2.0:
        return 0
    return int(rotate.group(1)) % 360
