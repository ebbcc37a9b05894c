"""Intake: check a file by its content, store it, and save its Document and queued Run.

What views, the API, commands and triggers call to bring documents in. A refused file
stores nothing: no row and no file. The runs are sent to the workers by runs.queue once
their transaction has committed; a broker that cannot be reached then leaves them queued
for the sweeper, and the upload stands, files and all.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction

from accounts.models import Organization, User
from automations.documents import discard_files, incoming_folder, link_into_storage
from automations.engine.filetypes import FileRejected, inspect_file, safe_filename
from automations.models import Document, Run, Trigger, Workflow, WorkflowVersion
from automations.runs.control import new_run
from automations.runs.queue import enqueue_runs
from pyq_site.uploads import input_limits, max_upload_bytes, spool

log = logging.getLogger(__name__)


@dataclass
class Rejection:
    filename: str
    message: str

    def __str__(self) -> str:
        return f"{self.filename}: {self.message}"


MSG_NOT_STORED = (
    "This file could not be stored because of a problem on our side. "
    "Please upload it again in a few minutes."
)


class AttachmentError(Exception):
    """A mail's attachments could not be stored; ``str(exc)`` says so for a person."""


def ingest(
    org: Organization,
    stream: IO[bytes],
    filename: str,
    *,
    user: User | None = None,
    source: str = Document.Source.UPLOAD,
    trigger: str = Run.Trigger.UPLOAD,
    parent: Document | None = None,
    declared_size: int | None = None,
    pipeline: list[dict] | None = None,
    version: WorkflowVersion | None = None,
    enqueue: bool = True,
    trigger_ref: Trigger | None = None,
) -> Document:
    """Validate a file by its content, store it, and queue a Run that reads it.

    Raises FileRejected with a message for the person who sent it; then nothing is stored.
    """
    document = prepare_document(
        org, stream, filename, user=user, source=source, parent=parent, declared_size=declared_size
    )
    _save_documents(
        [document],
        trigger=trigger,
        user=user,
        pipeline=pipeline,
        version=version,
        enqueue=enqueue,
        trigger_ref=trigger_ref,
    )
    return document


def ingest_many(
    org: Organization,
    files: Iterable,
    *,
    user: User | None = None,
    source: str = Document.Source.UPLOAD,
    trigger: str = Run.Trigger.UPLOAD,
    pipeline: list[dict] | None = None,
    version: WorkflowVersion | None = None,
    trigger_ref: Trigger | None = None,
) -> tuple[list[Document], list[Rejection]]:
    """Ingest uploaded files (Django UploadedFiles); a rejected file does not stop the others.
    With a workflow version, each file is run through it instead of the default reading;
    trigger_ref is the workflow's way in (a Trigger) the files came through, if any.

    The accepted files are saved together: their Documents and Runs in one transaction and
    one message to the workers for all of them, so a hundred small files cost a hundred file
    writes and a handful of queries, not a hundred commits and messages.
    """
    accepted: list[Document] = []
    rejected: list[Rejection] = []
    try:
        for upload in files:
            try:
                accepted.append(
                    prepare_document(
                        org,
                        upload,
                        upload.name,
                        user=user,
                        source=source,
                        declared_size=upload.size,
                    )
                )
            except FileRejected as exc:
                rejected.append(Rejection(safe_filename(upload.name), str(exc)))
            except Exception:  # storage or a bug: refuse this file, keep the upload going
                log.exception("storing the upload %r failed", safe_filename(upload.name))
                rejected.append(Rejection(safe_filename(upload.name), MSG_NOT_STORED))
    except BaseException:
        # Interrupted (a worker timeout, a signal): the files stored so far have no rows.
        discard_files(accepted)
        raise
    _save_documents(
        accepted,
        trigger=trigger,
        user=user,
        pipeline=pipeline,
        version=version,
        trigger_ref=trigger_ref,
    )
    return accepted, rejected


def ingest_attachments(run: Run, attachments: Iterable[tuple[str, bytes]]) -> list[Rejection]:
    """Store each attachment of the mail `run` reads as its own Document with a queued Run:
    all of them in one transaction, once. When the mail already has attachments, an earlier
    attempt saved them all, and nothing is done again.

    Each attachment runs as its mail does: the same steps (a workflow's version, a draft
    under test, an API run's own steps, or the default reading), workflow, trigger, person
    and way in (trigger_ref). A builder's test of a draft on a mail thus makes test runs only
    (not exported, not in the workflow's runs). A forwarded mail among them does the same in
    turn when its own run reads it; the mail's nesting limit bounds how deep that goes.

    An attachment refused by its content (unsupported, damaged) is skipped and returned.
    Any other error stores none of them and raises AttachmentError, so that a retry
    stores them all.
    """
    parent = run.document
    prepared: list[Document] = []
    rejected: list[Rejection] = []
    name = ""
    try:
        with transaction.atomic():
            # One attempt at a time per mail (a redelivered task may run beside a slow one).
            Document.objects.select_for_update().filter(pk=parent.pk).first()
            if parent.attachments.exists():
                return []
            for name, data in attachments:
                try:
                    prepared.append(
                        prepare_document(
                            parent.organization,
                            io.BytesIO(data),
                            name,
                            user=parent.uploaded_by,
                            source=Document.Source.EMAIL,
                            parent=parent,
                        )
                    )
                except FileRejected as exc:
                    rejected.append(Rejection(safe_filename(name), str(exc)))
            _save_documents(
                prepared,
                trigger=run.trigger,
                user=run.triggered_by,
                pipeline=run.pipeline,
                version=run.workflow_version,
                workflow=run.workflow,
                is_test=run.is_test,
                trigger_ref=run.trigger_ref,
            )
    except Exception as exc:
        # Nothing of this attempt is kept: the rows went with the transaction, the files go.
        discard_files(prepared)
        log.exception("storing the attachment %r of document %s failed", name, parent.pk)
        raise AttachmentError(
            f"The attachment {safe_filename(name)} could not be stored, so none of this "
            "e-mail's attachments were kept. Retry the run to store them all."
        ) from exc
    except BaseException:
        discard_files(prepared)
        raise
    return rejected


def prepare_document(
    org: Organization,
    stream: IO[bytes],
    filename: str,
    *,
    user: User | None = None,
    source: str = Document.Source.UPLOAD,
    parent: Document | None = None,
    declared_size: int | None = None,
) -> Document:
    """Check a file by its content and store it; the Document row is not saved yet (see
    _save_documents, which removes the file again if the row cannot be saved)."""
    name = safe_filename(filename)
    limit = max_upload_bytes()
    if declared_size is not None and declared_size > limit:
        raise FileRejected(f"The file is larger than the {settings.PYQ_MAX_UPLOAD_MB} MB limit.")
    tmp, sha256, size = spool(stream, limit, folder=incoming_folder())
    with tmp:
        if size == 0:
            raise FileRejected("The file is empty.")
        inspection = inspect_file(tmp.name, max_pages=settings.PYQ_MAX_PAGES, limits=input_limits())
        kind = inspection.kind
        document = Document(
            organization=org,
            uploaded_by=user,
            parent=parent,
            source=source,
            original_name=name,
            kind=kind.kind,
            mime_type=kind.mime,
            extension=kind.extension,
            size=size,
            sha256=sha256,
            page_count=inspection.page_count,
        )
        if not link_into_storage(document, tmp.name, name):
            tmp.seek(0)
            document.file.save(name, File(tmp, name=name), save=False)
    return document


def _save_documents(
    documents: list[Document],
    *,
    trigger: str,
    user: User | None,
    pipeline: list[dict] | None,
    version: WorkflowVersion | None,
    workflow: Workflow | None = None,
    is_test: bool = False,
    enqueue: bool = True,
    trigger_ref: Trigger | None = None,
) -> None:
    if not documents:
        return
    try:
        with transaction.atomic():
            if len(documents) == 1:
                documents[0].save()
            else:
                Document.objects.bulk_create(documents)
            runs = [
                new_run(
                    d,
                    trigger=trigger,
                    user=user,
                    pipeline=pipeline,
                    version=version,
                    workflow=workflow,
                    is_test=is_test,
                    trigger_ref=trigger_ref,
                )
                for d in documents
            ]
            Run.objects.bulk_create(runs)
    except BaseException:
        # Store nothing half: the rows are gone with the transaction, so the files go too.
        for document in documents:
            document.file.delete(save=False)
        raise
    if enqueue:
        # Once committed, the queued runs are the record: their message is only a nudge, and
        # one that cannot be sent is owed by the sweeper (runs/queue.py), never an error here.
        enqueue_runs(runs)
