"""Web-side half of a model call: check the input, stage a file, wait for the worker."""

from __future__ import annotations

import uuid

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from accounts.models import Organization
from automations.engine.filetypes import FileRejected, inspect_file, safe_filename
from catalog.registry import BY_SLUG, check_model_options
from pyq_site.uploads import input_limits, max_upload_bytes, spool


class PlaygroundError(Exception):
    """Something the caller must fix (400) or wait for (503); the message says which."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def stage_file(org: Organization, upload) -> tuple[str, str]:
    """Check an uploaded file by content and put it where a worker can read it."""
    name = safe_filename(upload.name)
    tmp, _sha, size = spool(upload, max_upload_bytes())
    with tmp:
        if size == 0:
            raise FileRejected("The file is empty.")
        kind = inspect_file(
            tmp.name, max_pages=settings.PYQ_PLAYGROUND_MAX_PAGES, limits=input_limits()
        ).kind
        tmp.seek(0)
        staged = default_storage.save(
            f"orgs/{org.pk}/playground/{uuid.uuid4()}{kind.extension}", File(tmp)
        )
    return staged, name


def run_model(
    org: Organization,
    slug: str,
    *,
    text: str | None = None,
    upload=None,
    options: dict | None = None,
    with_images: bool = False,
) -> dict:
    """Send one model call to the ml queue and wait for its answer."""
    from catalog.tasks import predict_task

    if slug not in BY_SLUG:
        raise PlaygroundError(f"There is no model called {slug!r}.", status=404)
    if bool(text and text.strip()) == bool(upload):
        raise PlaygroundError("Paste some text or choose a file (one of the two).")
    try:  # a model is chosen from the catalog, never a path or an unlisted Hugging Face id
        check_model_options(org, options or {})
    except ValueError as exc:
        raise PlaygroundError(str(exc)) from None
    staged, name = None, "text"
    if upload is not None:
        try:
            staged, name = stage_file(org, upload)
        except FileRejected as exc:
            raise PlaygroundError(f"{safe_filename(upload.name)}: {exc}") from exc
    result = predict_task.apply_async(
        kwargs={
            "slug": slug,
            "text": text if staged is None else None,
            "staged": staged,
            "file_name": name,
            "options": options or {},
            "with_images": with_images,
        }
    )
    try:
        answer = result.get(timeout=settings.PYQ_PLAYGROUND_TIMEOUT, interval=0.02)
    except CeleryTimeout as exc:
        raise PlaygroundError(
            "The model did not answer in time: the workers may be busy or stopped. "
            "Try again in a minute.",
            status=503,
        ) from exc
    finally:
        result.forget()
    if "input_error" in answer:
        raise PlaygroundError(answer["input_error"])
    return answer
