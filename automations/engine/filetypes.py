"""Decide what an uploaded file is (by content, never by name) and whether we can read it.

Everything here raises :class:`FileRejected` with a message meant for the person who
uploaded the file, so callers can show ``str(exc)`` as is.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ACCEPTED_TYPES_TEXT",
    "KINDS",
    "FileKind",
    "FileRejected",
    "Inspection",
    "detect_kind",
    "inspect_file",
    "open_pdf",
    "safe_filename",
]


class FileRejected(ValueError):
    """The file cannot be processed; ``str(exc)`` is a message for a non-technical person."""


@dataclass(frozen=True)
class FileKind:
    kind: str  # one of "pdf", "png", "jpeg", "tiff", "docx", "txt", "eml"
    mime: str
    extension: str  # ".pdf", ".png", ...


KINDS: dict[str, FileKind] = {
    k.kind: k
    for k in (
        FileKind("pdf", "application/pdf", ".pdf"),
        FileKind("png", "image/png", ".png"),
        FileKind("jpeg", "image/jpeg", ".jpg"),
        FileKind("tiff", "image/tiff", ".tiff"),
        FileKind(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ".docx",
        ),
        FileKind("txt", "text/plain", ".txt"),
        FileKind("eml", "message/rfc822", ".eml"),
    )
}

ACCEPTED_TYPES_TEXT = (
    "PDF, PNG, JPEG, TIFF, Word (.docx), plain text (.txt) and e-mail (.eml) files"
)

MSG_EMPTY = "The file is empty."
MSG_UNSUPPORTED = f"This file type isn't supported. Please upload one of: {ACCEPTED_TYPES_TEXT}."
MSG_PDF_PASSWORD = "This PDF is password-protected. Remove the password and upload it again."  # noqa: S105
MSG_PDF_DAMAGED = (
    "This PDF is damaged or incomplete and can't be opened. "
    "Try saving or exporting it again, then upload the new file."
)
MSG_IMAGE_DAMAGED = (
    "This image is damaged or incomplete and can't be opened. "
    "Try saving or exporting it again, then upload the new file."
)
MSG_IMAGE_TOO_LARGE = (
    "This image is too large to process. Reduce its resolution and upload it again."
)
MSG_DOCX_DAMAGED = (
    "This Word document is damaged and can't be opened. "
    "Try saving it again in Word, then upload the new file."
)
MSG_ZIP_NOT_DOCX = (
    "This is a ZIP archive, not a Word document. "
    f"Please upload the files individually as {ACCEPTED_TYPES_TEXT}."
)
MSG_OLD_OFFICE = (
    "Old Microsoft Office files (.doc, .xls) aren't supported. "
    "Open the file in Word and save it as .docx, or export it to PDF, then upload it again."
)
MSG_FILE_UNREADABLE = "The file could not be read. Please upload it again."

_SNIFF_BYTES = 256 * 1024

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_EMAIL_KEY_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "received"}
)
# RFC 5322 field name: printable ASCII except ":" (and no spaces).
_HEADER_LINE = re.compile(rb"^([!-9;-~]+):")


def _read_head(path: str | os.PathLike[str], size: int = _SNIFF_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise FileRejected(MSG_FILE_UNREADABLE) from exc


def _looks_like_email(head: bytes) -> bool:
    """True when ``head`` starts with an RFC 822 header block followed by a blank line."""
    lines = head.split(b"\n")
    # The header block must end (blank line) within the sniffed bytes; the final element
    # may be an incomplete line, so never count it.
    lines = lines[:-1]
    if lines and lines[0].startswith(b"From ") and b":" not in lines[0].split(b" ", 2)[0]:
        lines = lines[1:]  # mbox "From_" separator line, written by some mail clients
    names: list[str] = []
    for raw in lines:
        line = raw.rstrip(b"\r")
        if not line:
            return len(names) >= 2 and any(n in _EMAIL_KEY_HEADERS for n in names)
        if line[:1] in (b" ", b"\t"):
            if not names:
                return False
            continue  # folded continuation of the previous header
        match = _HEADER_LINE.match(line)
        if not match:
            return False
        names.append(match.group(1).decode("ascii").lower())
    return False


def _decode_text_sample(head: bytes, complete: bool) -> str | None:
    """Decode a sample as UTF-8 or BOM-marked UTF-16; None when it is not such text."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        # final=False tolerates a multi-byte character cut off at the end of the sample.
        return decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return None


def _is_mostly_printable(text: str) -> bool:
    if "\x00" in text:
        return False
    if not text.strip():
        return True  # whitespace-only text files are still text files
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t\f\v")
    return printable / len(text) >= 0.95


def detect_kind(path: str | os.PathLike[str]) -> FileKind:
    """Identify the file from its content; raise :class:`FileRejected` if we can't accept it."""
    head = _read_head(path)
    if not head:
        raise FileRejected(MSG_EMPTY)
    # PDF readers accept junk before the header, so look in the whole first KiB.
    if b"%PDF-" in head[:1024]:
        return KINDS["pdf"]
    if head.startswith(_PNG_MAGIC):
        return KINDS["png"]
    if head.startswith(_JPEG_MAGIC):
        return KINDS["jpeg"]
    if head.startswith(_TIFF_MAGICS):
        return KINDS["tiff"]
    if head.startswith(_ZIP_MAGICS):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FileRejected(MSG_DOCX_DAMAGED) from exc
        if "word/document.xml" in names:
            return KINDS["docx"]
        raise FileRejected(MSG_ZIP_NOT_DOCX)
    if head.startswith(_OLE2_MAGIC):
        raise FileRejected(MSG_OLD_OFFICE)
    if _looks_like_email(head):
        return KINDS["eml"]
    complete = len(head) < _SNIFF_BYTES
    text = _decode_text_sample(head, complete)
    if text is not None and _is_mostly_printable(text):
        return KINDS["txt"]
    raise FileRejected(MSG_UNSUPPORTED)


@dataclass(frozen=True)
class Inspection:
    kind: FileKind
    page_count: int


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


def _inspect_pdf(path: str | os.PathLike[str], max_pages: int | None) -> int:
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


def _inspect_image(path: str | os.PathLike[str], max_pages: int | None) -> int:
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


def _inspect_docx(path: str | os.PathLike[str]) -> None:
    import docx  # python-docx pulls in lxml; only pay for it when needed

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


def inspect_file(path: str | os.PathLike[str], *, max_pages: int | None = None) -> Inspection:
    """Detect the kind, make sure the file opens, and count its pages.

    Raises :class:`FileRejected` for unsupported, encrypted or damaged files and when
    ``max_pages`` is given and exceeded. DOCX, TXT and EML count as one page
    (e-mail attachments are inspected separately by the caller).
    """
    kind = detect_kind(path)
    if kind.kind == "pdf":
        pages = _inspect_pdf(path, max_pages)
    elif kind.kind in ("png", "jpeg", "tiff"):
        pages = _inspect_image(path, max_pages)
    else:
        if kind.kind == "docx":
            _inspect_docx(path)
        pages = 1
        _check_max_pages(pages, max_pages)
    return Inspection(kind=kind, page_count=pages)


_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_MAX_NAME = 150
_MAX_EXTENSION = 16


def safe_filename(name: str, default: str = "document") -> str:
    """Reduce an untrusted file name to a safe base name (no directories, at most 150 chars).

    Strips directory parts (``/`` and ``\\``), control and invisible formatting
    characters (e.g. right-to-left overrides), characters Windows forbids, leading dots
    and trailing dots/spaces. Falls back to ``default`` when nothing usable remains.
    """
    name = unicodedata.normalize("NFC", name or "")
    parts = [p for p in re.split(r"[/\\]", name) if p.strip()]
    name = parts[-1] if parts else ""
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip()
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        name = default.strip(". ") or "document"
    stem, ext = os.path.splitext(name)
    if len(ext) > _MAX_EXTENSION or not stem:
        stem, ext = name, ""
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return stem[: _MAX_NAME - len(ext)].rstrip(". ") + ext
