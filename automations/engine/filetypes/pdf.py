"""Opening a PDF with pdfium, and the bounds of its compressed streams."""

from __future__ import annotations

import mmap
import os
import re
import zlib

import pypdfium2 as pdfium

from automations.engine.filetypes.messages import MSG_PDF_DAMAGED, MSG_PDF_PASSWORD
from automations.engine.filetypes.model import DEFAULT_LIMITS, MB, FileRejected, InputLimits

# A stream's data starts after the keyword and one end of line ("endstream" is not one).
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_PDF_IMAGE = re.compile(rb"/Subtype\s*/Image")
_PDF_CHUNK = 64 * 1024


def _pdf_too_large(limits: InputLimits) -> str:
    return (
        "This PDF is too large when unpacked (a page or part of it unpacks to more than "
        f"{limits.pdf_stream_bytes // MB} MB). Print it to a new PDF or split it, then "
        "upload it again."
    )


def _pdf_error_message(exc: pdfium.PdfiumError) -> str:
    # pdfium error codes: 2 file, 3 format, 4 password, 5 unsupported security handler.
    if getattr(exc, "err_code", None) in (4, 5):
        return MSG_PDF_PASSWORD
    return MSG_PDF_DAMAGED


def open_pdf(path: str | os.PathLike[str]) -> pdfium.PdfDocument:
    """Open a PDF with pdfium or raise :class:`FileRejected`; the caller must ``close()`` it.

    What pdfium does with broken files (measured with pypdfium2 5.15 / PDFium 159):

    * Encrypted with a user password: loading fails with error code 4 ("Incorrect
      password") -> password message. Owner-password-only PDFs (printing/copy
      restrictions) open normally and are accepted.
    * Truncated (any cut that loses the trailer at the end, e.g. the first 20/60/95 %
      of a file): pdfium cannot locate the document catalog and loading fails with
      "Data format error" -> damaged message. pdfium only rebuilds a broken or missing
      xref table when a ``trailer`` dictionary survives.
    * Trailer present but objects missing: the document may load; page objects that
      are gone fail in ``FPDF_LoadPage`` (we load every page in :func:`inspect_file`
      so these are rejected too), while a page whose content stream is gone loads
      and renders blank. That last case cannot be told apart from a real blank page.
    """
    try:
        return pdfium.PdfDocument(os.fspath(path))
    except pdfium.PdfiumError as exc:
        raise FileRejected(_pdf_error_message(exc)) from exc


def check_pdf_streams(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a PDF with a Flate-compressed stream (other than a picture) that unpacks
    beyond ``limits.pdf_stream_bytes``: pdfium unpacks a page's content whole when the page
    is opened, and 1 MB of Flate can hold 1 GB. Pictures are decoded line by line for the
    size of the picture, so their streams are not unpacked here. Streams that are not
    Flate (or are encrypted) are left to pdfium."""
    total_limit = limits.pdf_stream_bytes * 10
    total = 0
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for match in _PDF_STREAM.finditer(data):
                head_start = max(0, match.start() - 4096)
                head = data[head_start : match.start()]
                head = head[head.rfind(b"obj") + 1 :] if b"obj" in head else head
                if _PDF_IMAGE.search(head):
                    continue
                total += _unpacked_size(data, match.end(), limits.pdf_stream_bytes, limits)
                if total > total_limit:
                    raise FileRejected(_pdf_too_large(limits))


def _unpacked_size(data: mmap.mmap, start: int, limit: int, limits: InputLimits) -> int:
    """Bytes of the zlib stream at ``start`` (0 when none), refusing it past ``limit``."""
    decompressor = zlib.decompressobj()
    size = 0
    position = start
    while position < len(data) and not decompressor.eof:
        pending = data[position : position + _PDF_CHUNK]
        position += _PDF_CHUNK
        while pending:
            try:
                size += len(decompressor.decompress(pending, 1024 * 1024))
            except zlib.error:
                return size  # not Flate, or damaged: pdfium decides
            if size > limit:
                raise FileRejected(_pdf_too_large(limits))
            if decompressor.eof:
                break
            pending = decompressor.unconsumed_tail
    return size
