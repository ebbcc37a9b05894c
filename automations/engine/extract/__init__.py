"""Turn an inspected file into per-page text (text layer, OCR, DOCX, plain text, e-mail).

By role: ``pages`` (PageResult, ExtractionError, a picture read by OCR), ``pdf`` (text
layer or OCR per page), ``images`` (every frame by OCR), ``documents`` (DOCX and plain
text), ``mail`` (parse_email), ``html_text`` (html_to_text); ``iter_pages`` here picks one
by the file's kind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from automations.engine.extract.documents import docx_text, read_text
from automations.engine.extract.html_text import html_to_text
from automations.engine.extract.images import iter_image
from automations.engine.extract.mail import (
    EmailAttachment,
    EmailContent,
    email_page_text,
    parse_email,
)
from automations.engine.extract.pages import DISPLAY_MAX_SIDE, ExtractionError, PageResult
from automations.engine.extract.pdf import DISPLAY_DPI, MAX_RENDER_PIXELS, iter_pdf
from automations.engine.filetypes import DEFAULT_LIMITS, FileKind, InputLimits
from catalog.runtime.ocr import OcrEngine

__all__ = [
    "DISPLAY_DPI",
    "DISPLAY_MAX_SIDE",
    "MAX_RENDER_PIXELS",
    "EmailAttachment",
    "EmailContent",
    "ExtractionError",
    "PageResult",
    "html_to_text",
    "iter_pages",
    "parse_email",
]


def iter_pages(
    path: str | os.PathLike[str],
    kind: FileKind,
    ocr: OcrEngine,
    *,
    start: int = 1,
    ocr_dpi: int = 300,
    min_text_chars: int = 20,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[PageResult]:
    """Yield the pages of an inspected file in order, beginning with page ``start`` (1-based).

    PDF pages use their text layer when it has at least ``min_text_chars`` non-space
    characters, otherwise they are rendered at ``ocr_dpi`` and OCRed. Image pages
    (every TIFF frame) are OCRed. DOCX, TXT and EML are a single page; e-mail
    attachments are not pages (see :func:`parse_email`). Raises
    :class:`ExtractionError` for encrypted or damaged files.
    """
    if start < 1:
        raise ValueError("start is 1-based and must be at least 1")
    if kind.kind == "pdf":
        yield from iter_pdf(path, ocr, start, ocr_dpi, min_text_chars)
    elif kind.kind in ("png", "jpeg", "tiff"):
        yield from iter_image(path, ocr, start, limits)
    elif start > 1:
        return
    elif kind.kind == "docx":
        yield PageResult(number=1, text=docx_text(path, limits), method="docx", confidence=None)
    elif kind.kind == "txt":
        yield PageResult(number=1, text=read_text(path), method="text", confidence=None)
    elif kind.kind == "eml":
        content = parse_email(path, limits)
        yield PageResult(number=1, text=email_page_text(content), method="email", confidence=None)
    else:
        raise ExtractionError(f"Files of type {kind.kind!r} can't be read.")
