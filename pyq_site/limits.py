"""How large a request may be, and the upload handler that holds files to it while they stream.

Three sizes (README "Security"):

* pages that take several files (the document list, a workflow's page, POST /api/v1/documents),
  as multipart: PYQ_MAX_FILES_PER_UPLOAD x PYQ_MAX_UPLOAD_MB, plus room for the form around them;
* pages that take one file (the builder's test, the playground, the predict API), as multipart:
  PYQ_MAX_UPLOAD_MB plus that room;
* everything else, and any request without a login outside the API: PYQ_MAX_FORM_KB (forms and
  JSON; also Django's DATA_UPLOAD_MAX_MEMORY_SIZE).

pyq_site.middleware refuses a larger body before anything reads it; UploadLimitHandler (the first
of FILE_UPLOAD_HANDLERS) stops writing a file past PYQ_MAX_UPLOAD_MB, so that it is refused by its
size without being stored whole, and stops a request whose files pass the total.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest
from django.urls import Resolver404, resolve

MB = 1024 * 1024
PART_OVERHEAD = 2048  # a file's part headers (Django reads at most 1 KB of them) and boundary
FORM_ROOM = MB  # the form fields and boundaries around the files of an upload

# Views that take files (their URL names); a new one must be added here, or its uploads are
# refused past PYQ_MAX_FORM_KB.
# A workflow's web address (automations:hook) takes files without a login: its secret is the key.
MANY_FILES_VIEWS = frozenset(
    {
        "automations:documents",
        "automations:workflow",
        "automations:hook",
        "api:documents",
        "api:workflow_documents",
    }
)
ONE_FILE_VIEWS = frozenset(
    {"automations:builder_test", "automations:hook_test", "catalog:try", "api:predict"}
)


class BodyTooLarge(RequestDataTooBig):
    """A request body past its limit; ``str(exc)`` says the limit in plain words."""

    code = "too_large"


def file_limit() -> int:
    return settings.PYQ_MAX_UPLOAD_MB * MB


def form_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def files_total_limit() -> int:
    """The bytes of files one request may carry in all."""
    return settings.PYQ_MAX_FILES_PER_UPLOAD * file_limit()


def upload_message() -> str:
    return (
        f"Files may be up to {settings.PYQ_MAX_UPLOAD_MB} MB each, "
        f"{settings.PYQ_MAX_FILES_PER_UPLOAD} files a request."
    )


def one_file_message() -> str:
    return f"The file may be up to {settings.PYQ_MAX_UPLOAD_MB} MB."


def form_message() -> str:
    return f"This request is too large: forms and JSON may be up to {_kb(form_limit())}."


def anonymous_message() -> str:
    return (
        f"This request is too large for a page without a login (at most {_kb(form_limit())}). "
        "Log in first."
    )


def body_limit(request: HttpRequest) -> tuple[int, str]:
    """The most bytes this request's body may have, and the message when it has more."""
    if request.content_type == "multipart/form-data":
        view = _view_name(request.path_info)
        files = settings.PYQ_MAX_FILES_PER_UPLOAD
        if view in MANY_FILES_VIEWS:
            return files_total_limit() + files * PART_OVERHEAD + FORM_ROOM, upload_message()
        if view in ONE_FILE_VIEWS:
            return file_limit() + PART_OVERHEAD + FORM_ROOM, one_file_message()
    return form_limit(), form_message()


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def _kb(count: int) -> str:
    if count % MB == 0:
        return f"{count // MB} MB"
    return f"{count // 1024} KB"


# --- the upload handler ---------------------------------------------------------------------


class _Refused:
    """The content of a file that was too large: reading it refuses it, with the reason."""

    def __init__(self, message: str) -> None:
        self.message = message

    def read(self, *args) -> bytes:
        from automations.engine.filetypes import FileRejected

        raise FileRejected(self.message)

    def seek(self, *args) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        pass


class OversizeUpload(UploadedFile):
    """A file that passed PYQ_MAX_UPLOAD_MB while it streamed: only its name and the bytes
    counted so far (``size``, above the limit) are kept, so callers refuse it by size."""

    def __init__(self, name: str, content_type: str, size: int, charset=None, extra=None):
        message = f"The file is larger than the {settings.PYQ_MAX_UPLOAD_MB} MB limit."
        super().__init__(_Refused(message), name, content_type, size, charset, extra)


class UploadLimitHandler(FileUploadHandler):
    """First of FILE_UPLOAD_HANDLERS: counts the bytes of each file as they arrive.

    Past PYQ_MAX_UPLOAD_MB, a file's further bytes go nowhere and what the next handlers
    kept of it is dropped; the file arrives as an OversizeUpload, refused by its size while
    the other files of the upload go on. Past PYQ_MAX_FILES_PER_UPLOAD x PYQ_MAX_UPLOAD_MB
    of files in all, the request stops with BodyTooLarge (413).
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.kept = 0  # bytes of files handed on to the next handlers
        self.size = 0  # bytes of the current file
        self.over = False

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.size = 0
        self.over = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.size += len(raw_data)
        if self.size > file_limit():
            if not self.over:
                self.over = True
                self._drop_what_others_kept()
            return None
        self.kept += len(raw_data)
        if self.kept > files_total_limit():
            raise BodyTooLarge(upload_message())
        return raw_data

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if not self.over:
            return None
        return OversizeUpload(
            self.file_name or "file",
            self.content_type or "application/octet-stream",
            self.size,
            self.charset,
            self.content_type_extra,
        )

    def _drop_what_others_kept(self) -> None:
        """Close the next handlers' copy of this file (a temporary file is deleted)."""
        handlers = getattr(self.request, "upload_handlers", None) or []
        for handler in handlers:
            if handler is self:
                continue
            kept = getattr(handler, "file", None)
            if kept is not None and hasattr(kept, "close"):
                kept.close()
