"""What a file is, judged by its first bytes (never by its name)."""

from __future__ import annotations

import codecs
import os
import re
import zipfile

from automations.engine.filetypes.messages import (
    MSG_DOCX_DAMAGED,
    MSG_EMPTY,
    MSG_FILE_UNREADABLE,
    MSG_OLD_OFFICE,
    MSG_UNSUPPORTED,
    MSG_ZIP_NOT_DOCX,
)
from automations.engine.filetypes.model import (
    DEFAULT_LIMITS,
    KINDS,
    FileKind,
    FileRejected,
    InputLimits,
)
from automations.engine.filetypes.zips import check_zip_directory

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
        check_zip_directory(path, limits)
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
