"""OCR engines behind one small interface: Tesseract (when installed) and RapidOCR.

RapidOCR ships its ONNX models inside the wheel, so it always works; Tesseract is
faster and better on clean Latin-script documents but needs the system package
(``apt-get install tesseract-ocr``). Engines are created once per process.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

from PIL import Image

__all__ = [
    "OcrEngine",
    "OcrLine",
    "OcrResult",
    "RapidOcrEngine",
    "TesseractEngine",
    "get_ocr_engine",
    "tesseract_available",
    "to_rgb",
]

TESSERACT_INSTALL_HINT = (
    "Tesseract OCR is not installed. Install it with `apt-get install tesseract-ocr` "
    "(or choose the 'rapidocr' engine)."
)


@dataclass
class OcrLine:
    text: str
    confidence: float  # 0..1
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels


@dataclass
class OcrResult:
    text: str
    confidence: float | None  # mean over lines weighted by text length, 0..1; None if empty
    lines: list[OcrLine] = field(default_factory=list)

    @classmethod
    def from_lines(cls, lines: list[OcrLine]) -> OcrResult:
        """Build a result whose text is the lines joined with newlines."""
        return cls(
            text="\n".join(line.text for line in lines),
            confidence=_weighted_confidence(lines),
            lines=lines,
        )


@runtime_checkable
class OcrEngine(Protocol):
    name: str

    def recognize(self, image: Image.Image) -> OcrResult: ...


def _weighted_confidence(lines: Iterable[OcrLine]) -> float | None:
    total = 0.0
    weight = 0
    for line in lines:
        n = len(line.text)
        total += line.confidence * n
        weight += n
    if weight == 0:
        return None
    return _clamp01(total / weight)


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of ``image``; transparency is flattened onto white (scans, screenshots)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit/float greyscale (some scanners): map the range onto 8 bits.
        gray = image.convert("F")
        # One band: (min, max) numbers; the stubs also cover multi-band images' tuples.
        lo, hi = cast(tuple[float, float], gray.getextrema())
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        return gray.point(lambda v: (v - lo) * scale).convert("L").convert("RGB")
    return image.convert("RGB")


def _clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    x0 = int(min(max(round(x0), 0), width))
    x1 = int(min(max(round(x1), 0), width))
    y0 = int(min(max(round(y0), 0), height))
    y1 = int(min(max(round(y1), 0), height))
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def tesseract_env() -> dict[str, str]:
    """The environment Tesseract runs in: one OpenMP thread (PYQ_TESSERACT_THREADS).

    Tesseract's OpenMP threads cost more than they give: on 2 cores a SROIE scan takes about
    1.3 s with its default threads and 0.6 s with one (ocrmypdf and paperless-ngx run it so
    too); a worker reads several pages at once in its processes anyway."""
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("PYQ_TESSERACT_THREADS", "1")}


class TesseractEngine:
    """Tesseract via pytesseract; words are grouped into lines by block/paragraph/line."""

    name = "tesseract"

    # Tesseract reads best at roughly 300 dpi; small photos/crops of receipts are far
    # below that, so enlarge them (bounded, to keep memory and time in check).
    MIN_SHORT_SIDE = 1000
    MAX_UPSCALE = 4.0
    MAX_LONG_SIDE = 8000

    def __init__(self, lang: str = "eng", config: str = "", timeout: float = 300) -> None:
        self.lang = lang
        self.config = config
        self.timeout = timeout

    def recognize(self, image: Image.Image) -> OcrResult:
        import pytesseract

        rgb = to_rgb(image)
        width, height = rgb.size
        if width == 0 or height == 0:
            return OcrResult(text="", confidence=None, lines=[])
        factor = 1.0
        short, long = min(width, height), max(width, height)
        if short < self.MIN_SHORT_SIDE:
            factor = min(self.MIN_SHORT_SIDE / short, self.MAX_UPSCALE, self.MAX_LONG_SIDE / long)
            factor = max(factor, 1.0)
        work = rgb
        if factor > 1.0:
            work = rgb.resize(
                (round(width * factor), round(height * factor)), Image.Resampling.LANCZOS
            )
        # pytesseract starts tesseract with its module's `environ`: give it one thread.
        pytesseract.pytesseract.environ = tesseract_env()
        data = pytesseract.image_to_data(
            work,
            lang=self.lang,
            config=self.config,
            output_type=pytesseract.Output.DICT,
            timeout=self.timeout,
        )
        lines = self._group_lines(data, factor, width, height)
        return OcrResult.from_lines(lines)

    @staticmethod
    def _group_lines(
        data: dict[str, list[Any]], factor: float, width: int, height: int
    ) -> list[OcrLine]:
        groups: dict[tuple[int, int, int, int], list[tuple[str, float, tuple[int, ...]]]] = {}
        for i, raw_text in enumerate(data.get("text", [])):
            text = (raw_text or "").strip()
            try:
                conf = float(data["conf"][i])
            except (TypeError, ValueError):
                continue
            if not text or conf < 0:  # -1 marks non-word rows (page/block/line)
                continue
            key = (
                int(data["page_num"][i]),
                int(data["block_num"][i]),
                int(data["par_num"][i]),
                int(data["line_num"][i]),
            )
            left, top = int(data["left"][i]), int(data["top"][i])
            box = (left, top, left + int(data["width"][i]), top + int(data["height"][i]))
            groups.setdefault(key, []).append((text, conf / 100.0, box))

        lines: list[OcrLine] = []
        for words in groups.values():  # dicts keep Tesseract's reading order
            text = " ".join(w[0] for w in words)
            chars = sum(len(w[0]) for w in words)
            conf = sum(w[1] * len(w[0]) for w in words) / chars
            x0 = min(w[2][0] for w in words) / factor
            y0 = min(w[2][1] for w in words) / factor
            x1 = max(w[2][2] for w in words) / factor
            y1 = max(w[2][3] for w in words) / factor
            lines.append(
                OcrLine(
                    text=text,
                    confidence=_clamp01(conf),
                    box=_clip_box((x0, y0, x1, y1), width, height),
                )
            )
        return lines


class RapidOcrEngine:
    """RapidOCR (PP-OCR models on onnxruntime).

    RapidOCR returns one box per detected text segment; segments on the same visual
    row (e.g. "TOTAL" ... "93.50" on a receipt) are merged into one :class:`OcrLine`
    so that lines mean the same thing as with Tesseract.
    """

    name = "rapidocr"

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR()
        # RapidOCR keeps per-call state on the instance (e.g. thresholds), so one
        # call at a time per engine.
        self._lock = threading.Lock()

    def recognize(self, image: Image.Image) -> OcrResult:
        rgb = to_rgb(image)
        width, height = rgb.size
        if width == 0 or height == 0:
            return OcrResult(text="", confidence=None, lines=[])
        with self._lock:
            output = self._ocr(rgb)  # PIL input: RapidOCR converts RGB to BGR itself
        result = output[0] if isinstance(output, tuple) else output
        segments: list[OcrLine] = []
        for item in result or []:
            points, text, score = item[0], item[1], item[2]
            text = str(text).strip()
            if not text:
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            segments.append(
                OcrLine(
                    text=text,
                    confidence=_clamp01(float(score)),
                    box=_clip_box((min(xs), min(ys), max(xs), max(ys)), width, height),
                )
            )
        return OcrResult.from_lines(_merge_rows(segments))


def _merge_rows(segments: list[OcrLine]) -> list[OcrLine]:
    """Order segments top-to-bottom, left-to-right, merging those on the same row."""
    rows: list[list[OcrLine]] = []
    for seg in sorted(segments, key=lambda s: ((s.box[1] + s.box[3]) / 2, s.box[0])):
        center = (seg.box[1] + seg.box[3]) / 2
        seg_h = max(seg.box[3] - seg.box[1], 1)
        if rows:
            row = rows[-1]
            row_top = min(s.box[1] for s in row)
            row_bottom = max(s.box[3] for s in row)
            row_center = (row_top + row_bottom) / 2
            row_h = max(row_bottom - row_top, 1)
            if abs(center - row_center) <= 0.5 * min(seg_h, row_h):
                row.append(seg)
                continue
        rows.append([seg])

    lines: list[OcrLine] = []
    for row in rows:
        row.sort(key=lambda s: s.box[0])
        if len(row) == 1:
            lines.append(row[0])
            continue
        text = _join_segments(row)
        chars = sum(len(s.text) for s in row)
        conf = sum(s.confidence * len(s.text) for s in row) / chars
        box = (
            min(s.box[0] for s in row),
            min(s.box[1] for s in row),
            max(s.box[2] for s in row),
            max(s.box[3] for s in row),
        )
        lines.append(OcrLine(text=text, confidence=_clamp01(conf), box=box))
    return lines


def _join_segments(row: list[OcrLine]) -> str:
    """Join a row's segments left to right. RapidOCR sometimes cuts a line into boxes that
    overlap, both holding the characters under the overlap ("from t" + "the shop"): those
    repeated characters are dropped once."""
    text = row[0].text
    for previous, segment in itertools.pairwise(row):
        overlap_px = previous.box[2] - segment.box[0]
        if overlap_px > 0 and previous.text:
            char_px = max((previous.box[2] - previous.box[0]) / len(previous.text), 1.0)
            most = min(len(segment.text), len(text), round(overlap_px / char_px) + 1)
            for k in range(most, 0, -1):
                if text[-k:].casefold() == segment.text[:k].casefold():
                    text = text[:-k].rstrip()
                    break
        text = f"{text} {segment.text}" if text else segment.text
    return text


@functools.cache
def tesseract_available() -> bool:
    """Whether the ``tesseract`` binary is installed and runs (checked once per process)."""
    try:
        import pytesseract
    except ImportError:
        return False
    cmd = pytesseract.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        return False
    try:
        pytesseract.get_tesseract_version()
    except Exception:
        return False
    return True


_ENGINES: dict[str, OcrEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_ocr_engine(preference: str = "auto") -> OcrEngine:
    """Return the process-wide engine for ``preference``: "auto", "tesseract" or "rapidocr".

    "auto" picks Tesseract when installed, else RapidOCR. Forcing "tesseract" when it
    is not installed raises ``RuntimeError`` with install instructions.
    """
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        choice = "tesseract" if tesseract_available() else "rapidocr"
    if choice not in ("tesseract", "rapidocr"):
        raise ValueError(
            f"Unknown OCR engine {preference!r}; use 'auto', 'tesseract' or 'rapidocr'."
        )
    if choice == "tesseract" and not tesseract_available():
        raise RuntimeError(TESSERACT_INSTALL_HINT)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(choice)
        if engine is None:
            engine = TesseractEngine() if choice == "tesseract" else RapidOcrEngine()
            _ENGINES[choice] = engine
        return engine
