"""What views, tasks and triggers call to change documents and runs."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from automations.engine.filetypes import FileRejected, inspect_file, safe_filename
from automations.models import Document, Run, StepRun, Workflow, WorkflowVersion
from automations.pipelines import DEFAULT_PIPELINE

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


@dataclass
class Rejection:
    filename: str
    message: str

    def __str__(self) -> str:
        return f"{self.filename}: {self.message}"


def max_upload_bytes() -> int:
    return settings.PYQ_MAX_UPLOAD_MB * 1024 * 1024


def spool(stream: IO[bytes], limit: int) -> tuple[tempfile._TemporaryFileWrapper, str, int]:
    """Copy a stream to a temporary file, hashing it; refuse it past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    tmp = tempfile.NamedTemporaryFile(prefix="pyq-upload-", delete=True)  # noqa: SIM115
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
) -> Document:
    """Validate a file by its content, store it, and queue a Run that reads it.

    Raises FileRejected with a message for the person who sent it; then nothing is stored.
    """
    name = safe_filename(filename)
    limit = max_upload_bytes()
    if declared_size is not None and declared_size > limit:
        raise FileRejected(f"The file is larger than the {settings.PYQ_MAX_UPLOAD_MB} MB limit.")
    tmp, sha256, size = spool(stream, limit)
    with tmp:
        if size == 0:
            raise FileRejected("The file is empty.")
        inspection = inspect_file(tmp.name, max_pages=settings.PYQ_MAX_PAGES)
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
        tmp.seek(0)
        document.file.save(name, File(tmp, name=name), save=False)
    try:
        with transaction.atomic():
            document.save()
            start_run(
                document,
                trigger=trigger,
                user=user,
                pipeline=pipeline,
                version=version,
                enqueue=enqueue,
            )
    except BaseException:
        # Store nothing half: the row is gone with the transaction, so the file goes too.
        document.file.delete(save=False)
        raise
    return document


def ingest_many(
    org: Organization,
    files: Iterable,
    *,
    user: User | None = None,
    version: WorkflowVersion | None = None,
) -> tuple[list[Document], list[Rejection]]:
    """Ingest uploaded files one by one; a rejected file does not stop the others. With a
    workflow version, each file is run through it instead of the default reading."""
    accepted: list[Document] = []
    rejected: list[Rejection] = []
    for upload in files:
        try:
            accepted.append(
                ingest(
                    org, upload, upload.name, user=user, declared_size=upload.size, version=version
                )
            )
        except FileRejected as exc:
            rejected.append(Rejection(safe_filename(upload.name), str(exc)))
    return accepted, rejected


def start_run(
    document: Document,
    *,
    trigger: str = Run.Trigger.UPLOAD,
    user: User | None = None,
    pipeline: list[dict] | None = None,
    version: WorkflowVersion | None = None,
    workflow: Workflow | None = None,
    is_test: bool = False,
    enqueue: bool = True,
) -> Run:
    """Queue a run of `pipeline` (the default one), or of a published workflow version, over
    the document. A test of a workflow's draft passes the workflow, its draft and is_test.

    enqueue=False leaves the run queued for the caller to execute in this process.
    """
    if version is not None:
        pipeline, workflow = version.spec, version.workflow
    run = Run.objects.create(
        organization=document.organization,
        document=document,
        trigger=trigger,
        triggered_by=user,
        pages_total=document.page_count,
        pipeline=pipeline or DEFAULT_PIPELINE,
        workflow_version=version,
        workflow=workflow,
        is_test=is_test,
    )
    if enqueue:
        enqueue_run(run)
    return run


def enqueue_run(run: Run) -> None:
    """Send the run to the workers once the transaction that created it has committed."""
    from automations.tasks import process_run

    transaction.on_commit(lambda: process_run.delay(run.pk))


def reprocess(document: Document, *, user: User | None = None) -> Run:
    """Read a document again from scratch, with the pipeline of its latest run."""
    latest = document.latest_run
    images = [page.image.name for page in document.pages.all() if page.image]
    with transaction.atomic():
        document.pages.all().delete()
        run = start_run(
            document,
            trigger=Run.Trigger.RETRY,
            user=user,
            pipeline=latest.pipeline if latest else None,
        )
    for name in images:
        document.file.storage.delete(name)
    return run


class RunStateError(ValueError):
    """The run is not in a state that allows this; the message says why."""


def cancel_run(run: Run, *, user: User | None = None) -> Run:
    """Cancel a queued or running run. A running one stops before its next step."""
    who = f" by {user.email}" if user else ""
    updated = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELED, finished_at=timezone.now(), error=f"Canceled{who}."
    )
    run.refresh_from_db()
    if not updated:
        raise RunStateError(f"Run {run.pk} has already {run.get_status_display().lower()}.")
    return run


def retry_run(run: Run, *, user: User | None = None, whole: bool = False) -> Run:
    """Run a failed or canceled run again.

    By default it goes on from the step that failed: finished steps keep their results, and
    when its workflow has a newer published version (the fixed webhook URL), the remaining
    steps come from it; a finished step whose configuration changed runs again. whole=True
    starts a new run of every step instead.
    """
    if run.status not in (Run.Status.FAILED, Run.Status.CANCELED):
        raise RunStateError("Only a failed or canceled run can be retried.")
    if whole:
        if run.workflow_version is not None:
            from automations.workflows import start_workflow_run

            workflow = run.workflow_version.workflow
            return start_workflow_run(workflow, run.document, user=user, trigger=Run.Trigger.RETRY)
        return reprocess(run.document, user=user)
    with transaction.atomic():
        version = run.workflow_version
        latest = version.workflow.current_version if version else None
        if latest is not None and latest != version:
            kept = {
                (s.get("id") or s["step"], s["step"], json.dumps(s.get("config"), sort_keys=True))
                for s in latest.spec
            }
            for step_run in run.steps.all():
                same = (
                    step_run.step_id,
                    step_run.step,
                    json.dumps(_config_of(run.pipeline, step_run.step_id), sort_keys=True),
                )
                if same not in kept:
                    step_run.delete()
            run.pipeline, run.workflow_version = latest.spec, latest
        run.steps.exclude(status=StepRun.Status.SUCCEEDED).delete()
        run.status, run.error, run.finished_at, run.heartbeat_at = Run.Status.QUEUED, "", None, None
        run.trigger, run.triggered_by = Run.Trigger.RETRY, user
        run.save()
        enqueue_run(run)
    return run


def _config_of(pipeline: list[dict], step_id: str) -> dict | None:
    for step in pipeline:
        if (step.get("id") or step["step"]) == step_id:
            return step.get("config")
    return None


def delete_document(document: Document) -> None:
    """Delete a document, its attachments, pages and runs, and their files in storage."""
    files = [document.file]
    for child in document.attachments.all():
        files.append(child.file)
        files.extend(page.image for page in child.pages.all() if page.image)
    files.extend(page.image for page in document.pages.all() if page.image)
    names = [(f.storage, f.name) for f in files if f and f.name]
    with transaction.atomic():
        document.delete()
    for storage, name in names:
        try:
            storage.delete(name)
        except OSError:
            log.warning("could not delete %s from storage", name)


def local_copy(document: Document) -> tempfile._TemporaryFileWrapper:
    """A local temporary copy of the stored file (storage may be S3 on another machine)."""
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix="pyq-doc-", suffix=document.extension, delete=True
    )
    with document.file.open("rb") as src:
        while chunk := src.read(CHUNK):
            tmp.write(chunk)
    tmp.flush()
    return tmp
