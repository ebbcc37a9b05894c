"""API key authentication and the JSON error shape every endpoint shares.

Errors always look like {"error": {"code": "...", "message": "..."}}; the codes are stable,
the messages are for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import ApiKey
from api import ratelimit

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REALM = 'Bearer realm="pyq"'


def json_error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    """An error response; `extra` adds top-level keys beside "error" (e.g. "rejected")."""
    return JsonResponse({"error": {"code": code, "message": message}, **extra}, status=status)


def not_found(what: str = "object") -> JsonResponse:
    return json_error(404, "not_found", f"No such {what}.")


def raw_key(request: HttpRequest) -> str | None:
    """The key sent as `Authorization: Bearer <key>` or `X-Api-Key: <key>`, if any."""
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, credentials = header.partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else ""
    return request.headers.get("X-Api-Key", "").strip() or None


def _unauthorized(code: str, message: str, challenge: str) -> JsonResponse:
    response = json_error(401, code, message)
    response["WWW-Authenticate"] = challenge
    return response


def authenticate(request: HttpRequest) -> JsonResponse | None:
    """Set request.api_key and request.org from the key; an error response when there is none."""
    raw = raw_key(request)
    if raw is None:
        return _unauthorized(
            "missing_key",
            "Send an API key: 'Authorization: Bearer pyq_…'. Owners and admins create keys "
            "under Settings → API keys.",
            REALM,
        )
    key = ApiKey.authenticate(raw)
    if key is None:
        return _unauthorized(
            "invalid_key",
            "This API key is not valid or has been revoked.",
            f'{REALM}, error="invalid_token"',
        )
    request.api_key = key
    request.org = key.organization
    # Session logins play no part in the API: the key alone says who acts, and where.
    request.membership = None
    return None


def api_view(methods: Iterable[str], permission: str = "view") -> Callable:
    """Make a view an API endpoint: key auth, allowed methods, JSON errors, no CSRF.

    The key must allow `permission`; unsafe methods (POST, PUT, PATCH, DELETE) also need
    "write". Http404 and PermissionDenied raised by the view become JSON errors.
    """
    allowed = sorted({m.upper() for m in methods})

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if (refused := authenticate(request)) is not None:
                return refused
            request.api_rate_usage = usage = ratelimit.consume(request)
            if usage is not None and not usage.allowed:
                return ratelimit.too_many_requests(usage)
            if request.method not in allowed:
                response = json_error(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {', '.join(allowed)}.",
                )
                response["Allow"] = ", ".join(allowed)
                return response
            needed = {permission} | ({"write"} if request.method in UNSAFE_METHODS else set())
            if not all(request.api_key.can(p) for p in needed):
                return json_error(403, "forbidden", "This API key cannot do this.")
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return not_found()
            except PermissionDenied:
                return json_error(403, "forbidden", "This API key cannot do this.")

        endpoint = ratelimit.with_rate_headers(wrapper)
        endpoint.api_methods = allowed  # read by the schema's completeness test
        return endpoint

    return decorator
