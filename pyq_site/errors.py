"""Error answers that say what was wrong: JSON on the API, a short page elsewhere.

Django turns a body it cannot read (too large, too many files or fields, a part header past
its limit, a broken multipart form) into a bare "Bad Request"; ``bad_request`` (handler400)
answers with the cause and the right status instead. Under /api/ every error, 404 and 500
included, has the API's shape: ``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.views import defaults

API_PREFIX = "/api/"
HOOKS_PREFIX = "/hooks/"  # a workflow's web address answers programs as the API does
TITLES = {
    400: "The request could not be read",
    403: "Not allowed",
    404: "Not found",
    411: "Length required",
    413: "Too large",
    500: "Something went wrong",
}
NAME_TOO_LONG = "A file name is too long. Rename the file to a shorter name and send it again."
MALFORMED = "The form data could not be read: it is incomplete or malformed. Send it again."


def is_api(request: HttpRequest) -> bool:
    """The API and workflows' web addresses: programs, answered in JSON, with a key."""
    return request.path_info.startswith((API_PREFIX, HOOKS_PREFIX))


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """The API's JSON error under /api/; {"error": message} to the pages' scripts (the
    builder asks for JSON); a fragment to htmx; else a short HTML page."""
    if is_api(request):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    if _wants_json(request):
        return JsonResponse({"error": message}, status=status)
    if request.headers.get("HX-Request"):  # htmx swaps the answer into the page: a fragment
        return HttpResponse(
            render_to_string("request_error_fragment.html", {"message": message}), status=status
        )
    body = render_to_string(
        "request_error.html", {"title": TITLES.get(status, "Error"), "message": message}
    )
    return HttpResponse(body, status=status)


def describe(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, code, message) for an exception raised while reading a request."""
    from pyq_site import limits

    if isinstance(exc, limits.BodyTooLarge):
        return 413, exc.code, str(exc)
    if isinstance(exc, TooManyFilesSent):
        return (
            413,
            "too_many_files",
            f"Send at most {settings.PYQ_MAX_FILES_PER_UPLOAD} files in one request.",
        )
    if isinstance(exc, RequestDataTooBig):
        return 413, "too_large", limits.form_message()
    if isinstance(exc, TooManyFieldsSent):
        return (
            400,
            "too_many_fields",
            f"The form has too many fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}.",
        )
    if isinstance(exc, MultiPartParserError):
        if "header size" in str(exc):
            return 400, "name_too_long", NAME_TOO_LONG
        return 400, "bad_request", MALFORMED
    if isinstance(exc, SuspiciousOperation | BadRequest) and "multipart" in str(exc).lower():
        return 400, "bad_request", MALFORMED
    return 400, "bad_request", "The request could not be read."


# --- handlers (pyq_site/urls.py) -----------------------------------------------------------


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    status, code, message = describe(exception)
    return error_response(request, status, code, message)


def permission_denied(request: HttpRequest, exception: BaseException | None = None):
    if is_api(request):
        return error_response(request, 403, "forbidden", "This is not allowed.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: BaseException | None = None):
    if is_api(request):
        return error_response(
            request, 404, "not_found", "There is no such endpoint; see the API's documentation."
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return error_response(
            request,
            500,
            "server_error",
            "Something went wrong on our side; the error was logged. Try again later.",
        )
    return defaults.server_error(request)
