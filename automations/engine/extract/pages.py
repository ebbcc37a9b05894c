"""A page's result, and how an OCR'd picture becomes one (with its display image)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image

from catalog.runtime.ocr import OcrEngine, OcrLine, to_rgb

DISPLAY_MAX_SIDE = 1600


class ExtractionError(Exception):
    """Text could not be extracted; ``str(exc)`` is a message for a non-technical person."""


@dataclass
class PageResult:
    number: int  # 1-based
    text: str
    method: str  # "text_layer" | "ocr" | "docx" | "text" | "email"
    confidence: float | None  # OCR confidence 0..1, None when not OCR
    image: Image.Image | None = None  # display rendering, longest side <= 1600 px
    lines: list[OcrLine] = field(default_factory=list)  # boxes in `image` coordinates


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def display_image(image: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """RGB version of ``image`` at ``size`` (default: its own), longest side <= 1600 px."""
    rgb = to_rgb(image)
    width, height = size or rgb.size
    longest = max(width, height)
    if longest > DISPLAY_MAX_SIDE:
        factor = DISPLAY_MAX_SIDE / longest
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
    if (width, height) == rgb.size:
        return rgb
    return rgb.resize((width, height), Image.Resampling.LANCZOS)


def _scale_lines(
    lines: list[OcrLine], source: tuple[int, int], target: tuple[int, int]
) -> list[OcrLine]:
    """Map OCR boxes from an image of size ``source`` onto one of size ``target``."""
    if source == target:
        return list(lines)
    sx = target[0] / source[0]
    sy = target[1] / source[1]
    scaled = []
    for line in lines:
        x0, y0, x1, y1 = line.box
        box = (
            min(max(math.floor(x0 * sx), 0), target[0]),
            min(max(math.floor(y0 * sy), 0), target[1]),
            min(max(math.ceil(x1 * sx), 0), target[0]),
            min(max(math.ceil(y1 * sy), 0), target[1]),
        )
        scaled.append(OcrLine(text=line.text, confidence=line.confidence, box=box))
    return scaled


def ocr_page(
    number: int,
    image: Image.Image,
    ocr: OcrEngine,
    display_size: tuple[int, int] | None = None,
) -> PageResult:
    rgb = to_rgb(image)
    result = ocr.recognize(rgb)
    display = display_image(rgb, display_size)
    return PageResult(
        number=number,
        text=result.text,
        method="ocr",
        confidence=result.confidence,
        image=display,
        lines=_scale_lines(result.lines, rgb.size, display.size),
    )
