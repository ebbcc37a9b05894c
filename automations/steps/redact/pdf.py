"""Redact's PDF: every page rendered to a picture with black boxes over the matches and
reassembled into a PDF with no text layer (nothing to copy back out)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from automations.engine.fields import PageText
from automations.steps.redact.detectors import BUILTIN_KINDS, Match, find_matches
from automations.steps.redact.images import paint
from automations.steps.redact.lines import ocr_boxes
from automations.steps.redact.patterns import Patterns

RENDER_DPI = 150
PDF_PAGES_PER_WRITE = 8  # pages held in memory while assembling the redacted PDF


def redacted_pdf(
    path: str,
    pages: Sequence[PageText],
    by_page: dict[int, list[Match]],
    kinds: Sequence[str] = BUILTIN_KINDS,
    patterns: Patterns = (),
    dpi: int = RENDER_DPI,
) -> bytes:
    """An image-only PDF of ``path`` with black boxes over every match.

    Matches in the PDF's text layer are boxed with the characters' own boxes (drawn into the
    page before rendering, so rotation and crop boxes are handled by pdfium); matches on
    OCR'd pages are boxed from their OCR lines. No text survives: the pages are pictures.
    """
    import pypdfium2 as pdfium

    by_number = {page.number: page for page in pages}
    pdf = pdfium.PdfDocument(path)
    out = io.BytesIO()
    batch: list[Any] = []
    written = False
    try:
        for index in range(len(pdf)):
            batch.append(_render_redacted(pdf, index, by_number, by_page, kinds, patterns, dpi))
            if len(batch) == PDF_PAGES_PER_WRITE:
                _write_pdf_pages(out, batch, dpi, append=written)
                written, batch = True, []
        if batch or not written:
            _write_pdf_pages(out, batch, dpi, append=written)
    finally:
        pdf.close()
    return out.getvalue()


def _render_redacted(pdf, index, by_number, by_page, kinds, patterns, dpi) -> Any:
    """Page ``index`` as a picture, its text-layer and OCR matches under black boxes."""
    page = pdf[index]
    try:
        for rect in _text_layer_rects(page, kinds, patterns):
            _insert_black_rect(page, rect)
        image = page.render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        page.close()
    page_text = by_number.get(index + 1)
    if page_text is not None:
        matches = by_page.get(page_text.number, [])
        paint(image, ocr_boxes(page_text, matches, kinds, patterns, image.size))
    return image


def _text_layer_rects(page: Any, kinds, patterns) -> list[tuple[float, float, float, float]]:
    """(left, bottom, right, top) in PDF points of each matched character run."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        rects = []
        for match in find_matches(text, kinds, patterns):
            # Loose boxes span the font's full height, so accents and descenders are covered.
            boxes = [
                textpage.get_charbox(i, loose=True)
                for i in range(match.start, min(match.end, count))
                if not text[i].isspace()
            ]
            rects.extend(_merge_char_boxes(boxes))
        return rects
    finally:
        textpage.close()


def _merge_char_boxes(boxes: list[tuple[float, float, float, float]]) -> list[tuple]:
    """Character boxes joined into one box per text line, with a point of margin."""
    lines: list[list[float]] = []
    for left, bottom, right, top in boxes:
        last = lines[-1] if lines else None
        if last and bottom <= last[3] and top >= last[1]:  # overlaps the line vertically
            last[0], last[1] = min(last[0], left), min(last[1], bottom)
            last[2], last[3] = max(last[2], right), max(last[3], top)
        else:
            lines.append([left, bottom, right, top])
    return [(x0 - 1, y0 - 1, x1 + 1, y1 + 1) for x0, y0, x1, y1 in lines]


def _insert_black_rect(page: Any, rect: tuple[float, float, float, float]) -> None:
    """Draw a filled black rectangle (PDF points) into ``page`` before it is rendered."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    left, bottom, right, top = rect
    handle = raw.FPDFPageObj_CreateNewRect(left, bottom, right - left, top - bottom)
    raw.FPDFPageObj_SetFillColor(handle, 0, 0, 0, 255)
    raw.FPDFPath_SetDrawMode(handle, raw.FPDF_FILLMODE_WINDING, False)
    page.insert_obj(pdfium.PdfObject(handle))


def _write_pdf_pages(out: io.BytesIO, images: list[Any], dpi: int, append: bool) -> None:
    """Add ``images`` as pages; Pillow appends to an existing PDF so that only a few
    rendered pages are in memory at a time."""
    from PIL import Image

    if not images:
        images = [Image.new("RGB", (int(8.27 * dpi), int(11.69 * dpi)), "white")]
    out.seek(0)
    first, rest = images[0], images[1:]
    first.save(out, "PDF", save_all=True, append_images=rest, resolution=dpi, append=append)
