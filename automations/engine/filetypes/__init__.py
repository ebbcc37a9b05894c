"""Decide what an uploaded file is (by content, never by name) and whether we can read it.

Everything here raises :class:`FileRejected` with a message meant for the person who
uploaded the file, so callers can show ``str(exc)`` as is.

By role: ``model`` (kinds, InputLimits, FileRejected), ``messages`` (what a person is
told), ``detect`` (the kind from the first bytes), ``inspection`` (inspect_file: opens the
file and counts its pages), the bounds of each container (``zips`` for DOCX, ``pdf``,
``mail``), and ``names`` (safe_filename).
"""

from __future__ import annotations

from automations.engine.filetypes.detect import detect_kind
from automations.engine.filetypes.inspection import (
    Inspection,
    inspect_file,
    set_image_pixel_limit,
)
from automations.engine.filetypes.mail import check_email, check_email_message, read_email
from automations.engine.filetypes.messages import (
    DAMAGED_MESSAGES,
    MSG_DOCX_DAMAGED,
    MSG_EMAIL_DAMAGED,
    MSG_EMPTY,
    MSG_FILE_DAMAGED,
    MSG_FILE_UNREADABLE,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_LARGE,
    MSG_OLD_OFFICE,
    MSG_PDF_DAMAGED,
    MSG_PDF_PASSWORD,
    MSG_UNSUPPORTED,
    MSG_ZIP_NOT_DOCX,
)
from automations.engine.filetypes.model import (
    ACCEPTED_TYPES_TEXT,
    DEFAULT_LIMITS,
    KINDS,
    MB,
    FileKind,
    FileRejected,
    InputLimits,
)
from automations.engine.filetypes.names import safe_filename
from automations.engine.filetypes.pdf import check_pdf_streams, open_pdf
from automations.engine.filetypes.zips import check_zip

__all__ = [
    "ACCEPTED_TYPES_TEXT",
    "DAMAGED_MESSAGES",
    "DEFAULT_LIMITS",
    "KINDS",
    "MB",
    "MSG_DOCX_DAMAGED",
    "MSG_EMAIL_DAMAGED",
    "MSG_EMPTY",
    "MSG_FILE_DAMAGED",
    "MSG_FILE_UNREADABLE",
    "MSG_IMAGE_DAMAGED",
    "MSG_IMAGE_TOO_LARGE",
    "MSG_OLD_OFFICE",
    "MSG_PDF_DAMAGED",
    "MSG_PDF_PASSWORD",
    "MSG_UNSUPPORTED",
    "MSG_ZIP_NOT_DOCX",
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
