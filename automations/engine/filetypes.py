"""Decide what an uploaded file is (by content, never by name) and whether we can read it.

Everything here raises :class:`FileRejected` with a message meant for the person who
uploaded the file, so callers can show ``str(exc)`` as is.
"""

from __future__ import annotations

import codecs
import email
import email.message
import logging
import mmap
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from email import policy

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPTED_TYPES_TEXT",
    "KINDS",
    "FileKind",
    "FileRejected",
    "InputLimits",
    "Inspection",
    "check_email",
    "check_email_message",
    "check_pdf_streams",
    "check_zip",
    "detect_kind",
    "inspect_file",
    "open_pdf",
    "read_email",
    "safe_filename",
    "set_image_pixel_limit",
]


class FileRejected(ValueError):
    """The file cannot be processed; ``str(exc)`` is a message for a non-technical person."""


MB = 1024 * 1024


@dataclass(frozen=True)
class InputLimits:
    """How far a file may unpack before Pyq refuses it (checked before any parser runs).

    The defaults are the deployment's defaults; pyq_site/settings.py can change each one
    (pyq_site.uploads.input_limits builds this from the settings).
    """

    # ZIP-based files (DOCX): the sum of the members' sizes, one member's size, the member
    # count, the compression ratio, and the XML elements the parser would build.
    unpacked_bytes: int = 50 * MB
    member_bytes: int = 25 * MB
    members: int = 1000
    ratio: int = 100
    xml_elements: int = 1_000_000
    # PDF: what one compressed stream (other than a picture) may unpack to; pdfium reads a
    # page's whole content stream into memory when the page is opened.
    pdf_stream_bytes: int = 50 * MB
    # Pictures: pixels of one image or TIFF page (Pillow's own default, set explicitly).
    image_pixels: int = 89_478_485
    # Mail: attachments (forwarded messages and theirs counted too), messages inside
    # messages, and the bytes all attachments unpack to.
    mail_attachments: int = 50
    mail_depth: int = 3
    mail_bytes: int = 50 * MB


DEFAULT_LIMITS = InputLimits()
# Below this a member's compression ratio is not checked: small, very regular XML parts of
# real documents compress far better than 100 to 1, and cannot hurt anyone at that size.
_RATIO_GRACE_BYTES = 1 * MB
# Nested multiparts beyond this are refused: Python's mail parser recurses per level.
_MAX_MULTIPART_DEPTH = 30


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
MSG_EMAIL_DAMAGED = (
    "This e-mail file is damaged and can't be read. "
    "Save the message again from your mail program, then upload the new file."
)
MSG_FILE_DAMAGED = (
    "This file is damaged and can't be opened. "
    "Try saving or exporting it again, then upload the new file."
)
# What an unexpected error while inspecting a file of each kind means for the person.
DAMAGED_MESSAGES = {
    "pdf": MSG_PDF_DAMAGED,
    "png": MSG_IMAGE_DAMAGED,
    "jpeg": MSG_IMAGE_DAMAGED,
    "tiff": MSG_IMAGE_DAMAGED,
    "docx": MSG_DOCX_DAMAGED,
    "eml": MSG_EMAIL_DAMAGED,
    "txt": MSG_FILE_UNREADABLE,
}


def _docx_too_large(detail: str) -> str:
    return (
        f"This Word document is too large when unpacked ({detail}). "
        "Split it into smaller documents or export it to PDF, then upload it again."
    )


def _pdf_too_large(limits: InputLimits) -> str:
    return (
        "This PDF is too large when unpacked (a page or part of it unpacks to more than "
        f"{limits.pdf_stream_bytes // MB} MB). Print it to a new PDF or split it, then "
        "upload it again."
    )


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


def detect_kind(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> FileKind:
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
        _check_zip_directory(path, limits)
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

# ------------------------------------------------------------------ ZIP (DOCX) bounds


def _check_zip_directory(path: str | os.PathLike[str], limits: InputLimits) -> None:
    """Refuse an archive whose directory lists more members than allowed, before zipfile
    builds an object for each one (a small file can list hundreds of thousands)."""
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # stable since 2.x
    if end is None:
        raise FileRejected(MSG_DOCX_DAMAGED)
    entries, directory_size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    # A directory entry of a real document is under 200 bytes; zipfile reads as many
    # entries as the directory's size holds, whatever the count says.
    if entries > limits.members or directory_size > limits.members * 1024:
        raise FileRejected(_docx_too_large(f"more than {limits.members} parts"))


def check_zip(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a ZIP-based file (DOCX) that unpacks beyond ``limits``, before any parser.

    First what the central directory declares (members, each member's size, the total,
    the compression ratio), then what the members really unpack to, read as a bounded
    stream (a directory can lie), counting the XML elements a parser would build: lxml
    takes about 120 bytes of memory per element, however small the element is in the file.
    """
    _check_zip_directory(path, limits)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRejected(MSG_DOCX_DAMAGED) from exc
    with zf:
        infos = zf.infolist()
        _check_zip_declared(infos, limits)
        total = 0
        elements = 0
        for info in infos:
            if info.is_dir():
                continue
            xml = info.filename.lower().endswith((".xml", ".rels"))
            size = 0
            try:
                with zf.open(info) as member:
                    while chunk := member.read(64 * 1024):
                        size += len(chunk)
                        total += len(chunk)
                        if size > limits.member_bytes or size > info.file_size:
                            raise FileRejected(
                                _docx_too_large(f"a part over {limits.member_bytes // MB} MB")
                            )
                        if total > limits.unpacked_bytes:
                            raise FileRejected(
                                _docx_too_large(f"over {limits.unpacked_bytes // MB} MB")
                            )
                        if xml:
                            elements += chunk.count(b"<") - chunk.count(b"</")
                            if elements > limits.xml_elements:
                                raise FileRejected(
                                    _docx_too_large(f"more than {limits.xml_elements:,} elements")
                                )
            except FileRejected:
                raise
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
                raise FileRejected(MSG_DOCX_DAMAGED) from exc


def _check_zip_declared(infos: list[zipfile.ZipInfo], limits: InputLimits) -> None:
    if len(infos) > limits.members:
        raise FileRejected(_docx_too_large(f"more than {limits.members} parts"))
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > limits.unpacked_bytes:
        raise FileRejected(_docx_too_large(f"over {limits.unpacked_bytes // MB} MB"))
    for info in infos:
        if info.file_size > limits.member_bytes:
            raise FileRejected(_docx_too_large(f"a part over {limits.member_bytes // MB} MB"))
        if _ratio_too_high(info.file_size, info.compress_size, limits):
            raise FileRejected(_docx_too_large(f"packed more than {limits.ratio} to 1"))
    if _ratio_too_high(total, packed, limits):
        raise FileRejected(_docx_too_large(f"packed more than {limits.ratio} to 1"))


def _ratio_too_high(unpacked: int, packed: int, limits: InputLimits) -> bool:
    return unpacked > _RATIO_GRACE_BYTES and unpacked > limits.ratio * max(packed, 1)


# ------------------------------------------------------------------------- PDF bounds

# A stream's data starts after the keyword and one end of line ("endstream" is not one).
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_PDF_IMAGE = re.compile(rb"/Subtype\s*/Image")
_PDF_CHUNK = 64 * 1024


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


# ------------------------------------------------------------------------ mail bounds


def _mail_limit_message(kind: str, limits: InputLimits) -> str:
    if kind == "count":
        return (
            f"This e-mail has more than {limits.mail_attachments} attachments (forwarded "
            "messages and their attachments count too). Send them in several e-mails."
        )
    if kind == "depth":
        return (
            f"This e-mail holds messages forwarded inside each other more than "
            f"{limits.mail_depth} levels deep. Save the innermost message and upload it instead."
        )
    return (
        f"This e-mail's attachments add up to more than {limits.mail_bytes // MB} MB when "
        "unpacked. Send them in several e-mails."
    )


def read_email(path: str | os.PathLike[str]) -> email.message.EmailMessage:
    """Parse an .eml file; :class:`FileRejected` when it cannot be parsed."""
    try:
        with open(path, "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=policy.default)
    except OSError as exc:
        raise FileRejected(MSG_FILE_UNREADABLE) from exc
    except (ValueError, RecursionError, LookupError, TypeError) as exc:
        raise FileRejected(MSG_EMAIL_DAMAGED) from exc
    if not isinstance(msg, email.message.EmailMessage):
        raise FileRejected(MSG_EMAIL_DAMAGED)
    return msg


def check_email(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a mail with too many attachments, too deeply nested messages, or attachments
    that unpack to too much (see :func:`check_email_message`)."""
    check_email_message(read_email(path), limits)


def check_email_message(msg: email.message.Message, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Walk a parsed mail without recursion and count what it would turn into: every
    attachment becomes a document, a forwarded message (message/rfc822) too, and its own
    attachments again. Raises :class:`FileRejected` past ``limits``."""
    count = 0
    total = 0
    # (part, messages it is inside of, multiparts it is inside of, is a message's root)
    todo: list[tuple[email.message.Message, int, int, bool]] = [(msg, 0, 0, True)]
    while todo:
        part, depth, nesting, root = todo.pop()
        if nesting > _MAX_MULTIPART_DEPTH:
            raise FileRejected(MSG_EMAIL_DAMAGED)
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            if isinstance(inner, email.message.Message):
                if depth + 1 > limits.mail_depth:
                    raise FileRejected(_mail_limit_message("depth", limits))
                size = len(inner.as_bytes(policy=policy.default))
                todo.append((inner, depth + 1, nesting + 1, True))
            else:
                size = len(part.get_payload(decode=True) or b"")
        elif part.is_multipart():
            payload = part.get_payload()
            children = payload if isinstance(payload, list) else []
            todo.extend(
                (child, depth, nesting + 1, False)
                for child in children
                if isinstance(child, email.message.Message)
            )
            continue
        elif root or not (part.get_filename() or part.get_content_disposition() == "attachment"):
            continue  # a body: not an attachment
        else:
            size = len(part.get_payload(decode=True) or b"")
        count += 1
        total += size
        if count > limits.mail_attachments:
            raise FileRejected(_mail_limit_message("count", limits))
        if total > limits.mail_bytes:
            raise FileRejected(_mail_limit_message("bytes", limits))


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
