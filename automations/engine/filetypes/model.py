"""What a file may be (its kind) and how far it may unpack (InputLimits); FileRejected."""

from __future__ import annotations

from dataclasses import dataclass


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
