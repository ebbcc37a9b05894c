"""What a person is told when their file is refused (``str(FileRejected)``)."""

from __future__ import annotations

from automations.engine.filetypes.model import ACCEPTED_TYPES_TEXT

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
