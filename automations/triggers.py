"""Triggers: a workflow's ways in (its secret web address, later its mail address and
schedules), and starting runs from them.

A trigger belongs to the workflow and always starts its current published version; pausing,
resuming and rotating its secret need no publish. What comes through a paused trigger, or
one of a workflow with no published version, is refused at the door: nothing is stored.
Files go through intake (one transaction; the runs' messages are sent after it commits, and
one the broker refuses is owed by the sweeper, ADR 35). Views call this module; it speaks
no HTTP, but each refusal carries the status and code an HTTP answer gives it.
"""

from __future__ import annotations

import io
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from automations import intake, workflows
from automations.engine.filetypes import FileRejected, safe_filename
from automations.models import Document, Run, Trigger, Workflow, WorkflowVersion
from automations.outbound import DownloadTooLarge, OutboundError, download
from pyq_site.uploads import max_upload_bytes

WEBHOOK_TOKEN_BYTES = 24  # 32 URL-safe characters, 192 bits
EMAIL_TOKEN_CHARS = 16  # lower-case letters and digits (mail addresses ignore case), 80 bits
URL_TIMEOUT = 30  # seconds for fetching a file from a URL sent to a trigger
EMAIL_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class TriggerRefused(Exception):
    """What came in through a trigger is refused; ``str(exc)`` says why for the sender,
    ``status`` and ``code`` are the HTTP answer's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


MSG_UNKNOWN = (
    "No workflow has this address. Its address may have been changed; ask for the new one."
)


@dataclass
class Started:
    """What a call to a trigger started: the documents stored, their runs, and the files
    refused with the reason."""

    documents: list[Document] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    rejected: list[intake.Rejection] = field(default_factory=list)


# --- managing triggers --------------------------------------------------------------------


def create_trigger(workflow: Workflow, kind: str, *, user: User | None = None) -> Trigger:
    """A new way into the workflow, running (not paused), with a fresh secret."""
    if kind not in Trigger.Kind.values:
        raise ValueError(f"Unknown kind of trigger: {kind!r}.")
    trigger = Trigger(
        organization=workflow.organization, workflow=workflow, kind=kind, created_by=user
    )
    _new_secret(trigger)
    trigger.save()
    return trigger


def set_paused(trigger: Trigger, paused: bool) -> Trigger:
    """Pause (calls are refused from now on) or resume a trigger; no publish needed."""
    trigger.paused = paused
    trigger.updated_at = timezone.now()
    trigger.save(update_fields=["paused", "updated_at"])
    return trigger


def rotate_token(trigger: Trigger) -> Trigger:
    """Give the trigger a new secret; the old address stops working at once."""
    _new_secret(trigger)
    trigger.updated_at = timezone.now()
    trigger.save(update_fields=["token", "address", "updated_at"])
    return trigger


def webhook_of(workflow: Workflow) -> Trigger | None:
    """The workflow's first web address, if it has one."""
    return workflow.triggers.filter(kind=Trigger.Kind.WEBHOOK).first()


def _new_secret(trigger: Trigger) -> None:
    if trigger.kind == Trigger.Kind.EMAIL:
        trigger.token = "".join(secrets.choice(EMAIL_ALPHABET) for _ in range(EMAIL_TOKEN_CHARS))
        trigger.address = (
            f"{slugify(trigger.workflow.name)[:40].strip('-') or 'workflow'}-{trigger.token}"
        )
    else:
        trigger.token = secrets.token_urlsafe(WEBHOOK_TOKEN_BYTES)
        trigger.address = ""


# --- the door -----------------------------------------------------------------------------


def resolve_webhook(token: str, *, test: bool = False) -> Trigger:
    """The web-address trigger of ``token`` if it takes calls now; TriggerRefused: unknown
    (404), paused (423), or, unless ``test`` (which runs the draft), a workflow with no
    published version (409)."""
    trigger = (
        Trigger.objects.select_related("workflow", "workflow__current_version", "organization")
        .filter(token=token, kind=Trigger.Kind.WEBHOOK)
        .first()
    )
    if trigger is None:
        raise TriggerRefused(404, "unknown_trigger", MSG_UNKNOWN)
    _check_open(trigger, test=test)
    return trigger


def _check_open(trigger: Trigger, *, test: bool) -> WorkflowVersion | None:
    """The version a call runs (None for a test of the draft); TriggerRefused when closed."""
    workflow = trigger.workflow
    if trigger.paused:
        raise TriggerRefused(
            423, "paused", f"{workflow.name} is paused: calls are refused until it is resumed."
        )
    if test:
        try:
            workflows.check_draft(workflow)
        except workflows.WorkflowError as exc:
            raise TriggerRefused(409, "draft_not_ready", f"The draft cannot run: {exc}") from None
        return None
    if workflow.current_version is None:
        raise TriggerRefused(
            409, "not_published", f"{workflow.name} has no published version yet, so it cannot run."
        )
    return workflow.current_version


def start_from_trigger(trigger: Trigger, files: Iterable, *, test: bool = False) -> Started:
    """Store files (Django UploadedFiles or Files with a name and a size) that came through
    the trigger and queue a run of each over the workflow's current published version, in
    one transaction; with ``test``, run the workflow's draft instead, marked as a test, as
    the builder's test does. The trigger is checked again under a lock, so a pause that
    came first refuses the call whole (TriggerRefused) and nothing is stored."""
    files = list(files)
    started = Started()
    with transaction.atomic():
        trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
        trigger.workflow = Workflow.objects.select_related("current_version").get(
            pk=trigger.workflow_id
        )
        version = _check_open(trigger, test=test)
        if test:
            _start_tests(trigger, files, started)
        else:
            started.documents, started.rejected = intake.ingest_many(
                trigger.organization,
                files,
                source=Document.Source.UPLOAD,
                trigger=Run.Trigger.WEBHOOK,
                version=version,
                trigger_ref=trigger,
            )
            started.runs = [d.runs.get() for d in started.documents]
        if started.documents:
            Trigger.objects.filter(pk=trigger.pk).update(last_used_at=timezone.now())
    return started


def _start_tests(trigger: Trigger, files: list, started: Started) -> None:
    for upload in files:
        try:
            run = workflows.start_test_run_on_upload(trigger.workflow, upload, trigger_ref=trigger)
        except FileRejected as exc:
            started.rejected.append(intake.Rejection(safe_filename(upload.name), str(exc)))
            continue
        started.documents.append(run.document)
        started.runs.append(run)


# --- what a call may send besides files ---------------------------------------------------


def text_file(text: str, name: str = "") -> File:
    """A text sent in a call, as a .txt file to store like an upload."""
    data = text.encode("utf-8")
    stem = safe_filename(name or "text").rsplit(".", 1)[0] or "text"
    return _sized(File(io.BytesIO(data), name=f"{stem}.txt"), len(data))


def fetch_url(url: str) -> File:
    """The file at ``url``, fetched through the hardened client (a private address is
    refused unless PYQ_ALLOW_PRIVATE_URLS), streamed to a temporary file and cut off past
    the upload limit. TriggerRefused: 413 too large, 422 refused or unreachable."""
    sink = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller, who closes it)
    try:
        got = download(
            url,
            sink,
            max_bytes=max_upload_bytes(),
            timeout=URL_TIMEOUT,
            allow_private=settings.PYQ_ALLOW_PRIVATE_URLS,
        )
    except DownloadTooLarge:
        sink.close()
        raise TriggerRefused(
            413,
            "too_large",
            f"The file at that URL is larger than the {settings.PYQ_MAX_UPLOAD_MB} MB limit.",
        ) from None
    except OutboundError as exc:
        sink.close()
        raise TriggerRefused(422, "url_refused", f"The URL could not be fetched: {exc}") from None
    sink.seek(0)
    return _sized(File(sink, name=safe_filename(got.name)), got.size)


def _sized(file: File, size: int) -> File:
    file.size = size
    return file
