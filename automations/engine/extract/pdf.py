"""A PDF's pages: the text layer when it has enough text, else a render read by OCR."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import pypdfium2 as pdfium
from PIL import Image

from automations.engine.extract.pages import (
    ExtractionError,
    PageResult,
    display_image,
    normalize_newlines,
    ocr_page,
)
from automations.engine.filetypes import MSG_PDF_DAMAGED, FileRejected, open_pdf
from catalog.runtime.ocr import OcrEngine

DISPLAY_DPI = 110
# Upper bound for a page rendered for OCR (an A4 page at 300 dpi is ~8.7 MP); stops
# posters/odd page sizes from allocating gigabytes.
MAX_RENDER_PIXELS = 40_000_000


def _non_space_chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _render_scale(page: pdfium.PdfPage, dpi: float) -> float:
    width_pt, height_pt = page.get_size()
    scale = dpi / 72.0
    pixels = width_pt * scale * height_pt * scale
    if pixels > MAX_RENDER_PIXELS:
        scale *= math.sqrt(MAX_RENDER_PIXELS / pixels)
    return scale


def _render(page: pdfium.PdfPage, dpi: float) -> Image.Image:
    bitmap = page.render(scale=_render_scale(page, dpi))
    try:
        return bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()


def _display_size(page: pdfium.PdfPage) -> tuple[int, int]:
    """Pixel size of the page rendered at DISPLAY_DPI (pdfium rounds up)."""
    width_pt, height_pt = page.get_size()
    scale = _render_scale(page, DISPLAY_DPI)
    return max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))


def _pdf_page(
    doc: pdfium.PdfDocument,
    index: int,
    ocr: OcrEngine,
    ocr_dpi: int,
    min_text_chars: int,
) -> PageResult:
    number = index + 1
    try:
        page = doc[index]
    except pdfium.PdfiumError as exc:
        raise ExtractionError(
            f"Page {number} of this PDF is damaged and can't be read. "
            "Try saving or exporting the PDF again, then upload the new file."
        ) from exc
    try:
        textpage = page.get_textpage()
        try:
            layer_text = normalize_newlines(textpage.get_text_bounded()).strip()
        finally:
            textpage.close()
        if _non_space_chars(layer_text) >= min_text_chars or (layer_text and not _has_images(page)):
            display = display_image(_render(page, DISPLAY_DPI))
            return PageResult(
                number=number,
                text=layer_text,
                method="text_layer",
                confidence=None,
                image=display,
            )
        # The display image is the OCR render scaled down to the display resolution,
        # which is cheaper than rendering the page a second time.
        result = ocr_page(number, _render(page, ocr_dpi), ocr, _display_size(page))
        if not result.text.strip() and layer_text:
            # OCR saw nothing but the page has a little real text: keep that.
            result.text, result.method, result.confidence = layer_text, "text_layer", None
        return result
    finally:
        page.close()


def iter_pdf(
    path: str | os.PathLike[str], ocr: OcrEngine, start: int, ocr_dpi: int, min_text_chars: int
) -> Iterator[PageResult]:
    try:
        doc = open_pdf(path)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    try:
        # Forms init lets pdfium draw filled-in form fields that have no appearance
        # stream; without it such values would be invisible to OCR and to the user.
        with contextlib.suppress(Exception):  # rendering without forms is acceptable
            doc.init_forms()
        count = len(doc)
        if count <= 0:
            raise ExtractionError(MSG_PDF_DAMAGED)
        for index in range(start - 1, count):
            # Build the result (and close the page) before yielding, so a consumer that
            # stops early only leaves the document open, which the finally closes.
            yield _pdf_page(doc, index, ocr, ocr_dpi, min_text_chars)
    finally:
        doc.close()


def _has_images(page: pdfium.PdfPage) -> bool:
    """A page with a short text layer and no pictures is a short digital page: OCR would
    only read the same words again (a page with no text at all is still OCR'd, since its
    text may be drawn as outlines)."""
    images = page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=3)
    return next(images, None) is not None
