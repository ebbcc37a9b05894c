"""Idempotency-Key on POST: the same request sent twice makes its objects once.

A POST with an `Idempotency-Key` header (1 to 255 printable ASCII characters, chosen by the
caller, one per operation; a UUID is fine) runs in one transaction with the row that keeps its
answer (api.models.IdempotencyKey). Sent again with the same key:

* the same request (same method, path and body) gets the first answer again, status and body,
  with `Idempotent-Replayed: true`, and nothing is made a second time;
* another request gets 422 `idempotency_key_reused`.

Only answers below 400 are kept: a refused request changed nothing, so the caller may correct
it and send it again with the same key. The key's row is claimed before the view runs, so a
second request with the same key at the same moment waits on the unique index (PostgreSQL)
until the first commits, then gets 409 `idempotency_key_in_use` having done nothing (send it
again to read the first answer). Keys are per organization; rows may be purged after a day
(`manage.py purge_idempotency_keys`), after which a key may be used again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone

from api.auth import json_error
from api.models import MAX_KEY_LENGTH, IdempotencyKey
from pyq_site.errors import describe
from pyq_site.limits import file_limit

HEADER = "Idempotency-Key"
KEEP = timedelta(days=1)
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")


def idempotent(view: Callable) -> Callable:
    """Inside api_view (it needs request.org): a POST with an Idempotency-Key is answered once."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return view(request, *args, **kwargs)
        if not _KEY.fullmatch(key):
            return json_error(
                400,
                "invalid_idempotency_key",
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
                "without spaces (a UUID is fine).",
            )
        try:
            digest = fingerprint(request)
        except (
            RequestDataTooBig,
            TooManyFieldsSent,
            TooManyFilesSent,
            MultiPartParserError,
        ) as exc:
            return json_error(*describe(exc))
        with transaction.atomic():
            return _answer_once(request, key, digest, lambda: view(request, *args, **kwargs))

    return wrapper


def _answer_once(
    request: HttpRequest, key: str, digest: str, run: Callable[[], HttpResponse]
) -> HttpResponse:
    """Inside the request's transaction: the kept answer, or the view's, kept."""
    kept = _kept(request, key)
    if kept is not None:
        return _replay(kept) if kept.fingerprint == digest else _reused()
    try:
        # Claimed before the view runs: a second request with this key waits here on the
        # unique index until the first commits (PostgreSQL), then fails, having done nothing.
        with transaction.atomic():
            row = IdempotencyKey.objects.create(
                organization=request.org, key=key, fingerprint=digest, status_code=0
            )
    except IntegrityError:
        return json_error(
            409,
            "idempotency_key_in_use",
            "Another request with this Idempotency-Key was being answered; send this one "
            "again to read its answer.",
        )
    response = run()
    if response.status_code < 400:
        _keep(row, response)
    else:
        row.delete()  # a refused request changed nothing: its key may be used again
    return response


def _kept(request: HttpRequest, key: str) -> IdempotencyKey | None:
    return (
        IdempotencyKey.objects.select_for_update().filter(organization=request.org, key=key).first()
    )


def _keep(row: IdempotencyKey, response: HttpResponse) -> None:
    row.status_code = response.status_code
    row.response_body = response.content.decode("utf-8")
    row.save(update_fields=["status_code", "response_body"])


def _replay(kept: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        kept.response_body, status=kept.status_code, content_type="application/json"
    )
    response["Idempotent-Replayed"] = "true"
    return response


def _reused() -> JsonResponse:
    return json_error(
        422,
        "idempotency_key_reused",
        f"This {HEADER} was already used for another request; use a new key for a new request.",
    )


def fingerprint(request: HttpRequest) -> str:
    """sha256 of the method, the path with its query and the body; for multipart, its fields
    and each file's name and contents instead of the raw body (curl picks a new boundary on
    every call)."""
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path(), request.content_type or ""):
        digest.update(part.encode() + b"\0")
    if request.content_type != "multipart/form-data":
        digest.update(request.body)
        return digest.hexdigest()
    for name, values in sorted(request.POST.lists()):
        for value in values:
            digest.update(f"field\0{name}\0{value}\0".encode())
    for name, uploads in sorted(request.FILES.lists()):
        for upload in uploads:
            digest.update(f"file\0{name}\0{upload.name}\0{upload.size}\0".encode())
            if (upload.size or 0) <= file_limit():  # a larger one is refused by its size alone
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    return digest.hexdigest()


def purge(older_than: timedelta = KEEP) -> int:
    """Delete the answers kept longer than `older_than`; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
