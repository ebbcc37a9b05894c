"""The deployment's limits on an uploaded file, and spooling it within them.

Read from the settings (README "Security"), used by every entry point that takes a file:
automations.intake (uploads, mail, the API) and the catalog's playground. Here rather than
in automations, so that catalog can use them without importing automations' Django modules.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO

from django.conf import settings

from automations.engine.filetypes import FileRejected, InputLimits

MB = 1024 * 1024
CHUNK = 1024 * 1024


def max_upload_bytes() -> int:
    return settings.PYQ_MAX_UPLOAD_MB * 1024 * 1024


def input_limits() -> InputLimits:
    """How far an upload may unpack, from the deployment's settings (README "Security")."""
    return InputLimits(
        unpacked_bytes=settings.PYQ_MAX_UNPACKED_MB * MB,
        member_bytes=settings.PYQ_MAX_UNPACKED_PART_MB * MB,
        members=settings.PYQ_MAX_ARCHIVE_PARTS,
        ratio=settings.PYQ_MAX_COMPRESSION_RATIO,
        xml_elements=settings.PYQ_MAX_XML_ELEMENTS,
        pdf_stream_bytes=settings.PYQ_MAX_PDF_STREAM_MB * MB,
        image_pixels=settings.PYQ_MAX_IMAGE_PIXELS,
        mail_attachments=settings.PYQ_MAX_MAIL_ATTACHMENTS,
        mail_depth=settings.PYQ_MAX_MAIL_DEPTH,
        mail_bytes=settings.PYQ_MAX_MAIL_UNPACKED_MB * MB,
    )


def spool(
    stream: IO[bytes], limit: int, folder: str | None = None
) -> tuple[tempfile._TemporaryFileWrapper, str, int]:
    """Copy a stream to a temporary file (in `folder`, default the system's), hashing it;
    refuse it past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    tmp = tempfile.NamedTemporaryFile(prefix="pyq-upload-", dir=folder, delete=True)  # noqa: SIM115
    try:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise FileRejected(
                    f"The file is larger than the {settings.PYQ_MAX_UPLOAD_MB} MB limit."
                )
            digest.update(chunk)
            tmp.write(chunk)
        tmp.flush()
    except BaseException:
        tmp.close()
        raise
    return tmp, digest.hexdigest(), size
