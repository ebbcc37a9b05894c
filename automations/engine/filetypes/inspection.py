"""Inspecting a file before anything stores it: its kind, whether it opens, its pages."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

from automations.engine.filetypes.detect import detect_kind
from automations.engine.filetypes.mail import check_email
from automations.engine.filetypes.messages import (
    DAMAGED_MESSAGES,
    MSG_DOCX_DAMAGED,
    MSG_FILE_DAMAGED,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_LARGE,
    MSG_PDF_DAMAGED,
)
from automations.engine.filetypes.model import DEFAULT_LIMITS, FileKind, FileRejected, InputLimits
from automations.engine.filetypes.pdf import check_pdf_streams, open_pdf
from automations.engine.filetypes.zips import check_zip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspection:
    kind: FileKind
    page_count: int


def _inspect_pdf(
    path: str | os.PathLike[str], max_pages: int | None, limits: InputLimits = DEFAULT_LIMITS
) -> int:
    check_pdf_streams(path, limits)
    doc = open_pdf(path)
    try:
        count = len(doc)
        if count <= 0:
            raise FileRejected(MSG_PDF_DAMAGED)
        _check_max_pages(count, max_pages)
        # A page tree can promise pages whose objects are gone; only loading tells.
        for index in range(count):
            try:
                page = doc[index]
            except pdfium.PdfiumError as exc:
                raise FileRejected(MSG_PDF_DAMAGED) from exc
            page.close()
        return count
    finally:
        doc.close()


def _inspect_image(
    path: str | os.PathLike[str], max_pages: int | None, limits: InputLimits = DEFAULT_LIMITS
) -> int:
    set_image_pixel_limit(limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # verify() checks structure/CRCs but not pixel data (it does nothing for
            # JPEG); load() decodes and catches truncation. Both are needed.
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                frames = getattr(img, "n_frames", 1)
                _check_max_pages(frames, max_pages)
                for index in range(frames):
                    img.seek(index)
                    img.load()
            return frames
    except FileRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileRejected(MSG_IMAGE_TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FileRejected(MSG_IMAGE_DAMAGED) from exc


def _inspect_docx(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    import docx  # python-docx pulls in lxml; only pay for it when needed

    check_zip(path, limits)
    try:
        docx.Document(os.fspath(path))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise FileRejected(MSG_DOCX_DAMAGED) from exc


def _check_max_pages(count: int, max_pages: int | None) -> None:
    if max_pages is not None and count > max_pages:
        raise FileRejected(
            f"This document has {count} pages, but the limit is {max_pages} pages. "
            "Split it into smaller files and upload them separately."
        )


def inspect_file(
    path: str | os.PathLike[str],
    *,
    max_pages: int | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Inspection:
    """Detect the kind, make sure the file opens, and count its pages.

    Raises :class:`FileRejected` for unsupported, encrypted or damaged files, for files
    that unpack beyond ``limits`` (checked before any parser reads them) and when
    ``max_pages`` is given and exceeded. DOCX, TXT and EML count as one page (e-mail
    attachments are inspected separately by the caller, but their number, nesting and
    unpacked size are checked here). Any other error of a parser on a crafted file is
    reported as the "damaged file" message of its kind: nothing else escapes.
    """
    kind: FileKind | None = None
    try:
        kind = detect_kind(path, limits)
        if kind.kind == "pdf":
            pages = _inspect_pdf(path, max_pages, limits)
        elif kind.kind in ("png", "jpeg", "tiff"):
            pages = _inspect_image(path, max_pages, limits)
        else:
            if kind.kind == "docx":
                _inspect_docx(path, limits)
            elif kind.kind == "eml":
                check_email(path, limits)
            pages = 1
            _check_max_pages(pages, max_pages)
    except FileRejected:
        raise
    except Exception as exc:  # Pillow, zipfile, lxml, email: TypeError, struct.error, ...
        log.info("inspecting a %s file failed", kind.kind if kind else "new", exc_info=True)
        message = DAMAGED_MESSAGES.get(kind.kind, MSG_FILE_DAMAGED) if kind else MSG_FILE_DAMAGED
        raise FileRejected(message) from exc
    return Inspection(kind=kind, page_count=pages)


def set_image_pixel_limit(limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Pillow's decompression-bomb guard is process-wide: set it from our limit."""
    Image.MAX_IMAGE_PIXELS = limits.image_pixels


set_image_pixel_limit(DEFAULT_LIMITS)  # explicit, not whatever Pillow's default is
