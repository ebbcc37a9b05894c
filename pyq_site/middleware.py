"""Request bodies are bounded before anything reads them (pyq_site.limits says how large).

RequestBodyLimitMiddleware comes first in MIDDLEWARE: a body whose Content-Length is past its
limit is answered 413 at once, and every body is read through LimitedInput, which raises
BodyTooLarge (413) when a body without a Content-Length (chunked) streams past the limit.
AnonymousBodyLimitMiddleware comes right after AuthenticationMiddleware, before the CSRF check
reads a form: without a login, pages outside the API take no more than a small form, so that
nobody can make the server parse and spool a large upload before the login check answers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pyq_site import limits
from pyq_site.errors import error_response, is_api
from pyq_site.inputs import optional_int


class LimitedInput:
    """A request's body stream that ends at the Content-Length (when there is one, as
    Django's LimitedStream does) and raises BodyTooLarge once more than ``limit`` bytes
    were read."""

    def __init__(self, stream, length: int | None, limit: int, message: str) -> None:
        self.stream = stream
        self.length = length
        self.limit = limit
        self.message = message
        self.count = 0

    def _allowed(self, size: int | None) -> int:
        # Read at most one byte past the limit: enough to know it was passed.
        room = self.limit + 1 - self.count
        if self.length is not None:
            room = min(room, self.length - self.count)
        if size is None or size < 0:
            return max(room, 0)
        return max(min(size, room), 0)

    def _counted(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.count > self.limit:
            raise limits.BodyTooLarge(self.message)
        return data

    def read(self, size: int | None = -1) -> bytes:
        allowed = self._allowed(size)
        if allowed == 0:
            if self.count > self.limit:
                raise limits.BodyTooLarge(self.message)
            return b""
        if self.length is None and (size is None or size < 0):
            return self._read_to_end(allowed)
        return self._counted(self.stream.read(allowed))

    def _read_to_end(self, allowed: int) -> bytes:
        parts = []
        while allowed > 0 and (chunk := self.stream.read(min(allowed, 64 * 1024))):
            parts.append(self._counted(chunk))
            allowed -= len(chunk)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        allowed = self._allowed(size)
        if allowed == 0:
            return b""
        return self._counted(self.stream.readline(allowed))

    def close(self) -> None:
        pass


def _content_length(request: HttpRequest) -> int | None:
    """The declared length; None when there is none; -1 when it is not a number."""
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    length = optional_int(str(raw).strip(), minimum=0)
    return -1 if length is None else length


def _chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


class RequestBodyLimitMiddleware:
    """First in MIDDLEWARE: refuse a body past its limit before anything reads it."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _content_length(request)
        if length == -1:
            return error_response(
                request, 400, "bad_request", "The request's Content-Length is not a number."
            )
        if length is None and _chunked(request) and request.content_type.startswith("multipart/"):
            # Django reads a multipart body by its Content-Length: without one it would
            # find no files at all.
            return error_response(
                request, 411, "length_required", "Send uploads with a Content-Length (not chunked)."
            )
        if length or _chunked(request):
            limit, message = limits.body_limit(request)
            if length is not None and length > limit:
                return error_response(request, 413, limits.BodyTooLarge.code, message)
            _wrap_input(request, length, limit, message)
        return self.get_response(request)


def _wrap_input(request: HttpRequest, length: int | None, limit: int, message: str) -> None:
    """Read the body through LimitedInput. Under WSGI, a chunked body (no Content-Length)
    is read to its end when the server says it ends (wsgi.input_terminated), as gunicorn
    does; Django alone would read it as empty."""
    environ = getattr(request, "environ", None) or {}
    raw = environ.get("wsgi.input")
    if raw is None:  # ASGI: the server has read the body already
        return
    if length is None and not environ.get("wsgi.input_terminated"):
        return
    request._stream = LimitedInput(raw, length, limit, message)


class AnonymousBodyLimitMiddleware:
    """After AuthenticationMiddleware: without a login, a page outside the API takes at most
    a form's worth (PYQ_MAX_FORM_KB), so a large upload is refused before the CSRF check
    would read and spool it. The API authenticates its keys before it reads a body."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = _content_length(request)
        if (length or _chunked(request)) and not is_api(request):
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                limit, message = limits.form_limit(), limits.anonymous_message()
                if length is not None and length > limit:
                    return error_response(request, 413, limits.BodyTooLarge.code, message)
                stream = getattr(request, "_stream", None)
                if isinstance(stream, LimitedInput) and stream.limit >= limit:
                    stream.limit, stream.message = limit, message
        return self.get_response(request)
