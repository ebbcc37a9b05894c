"""What views, tasks and triggers call to change documents and runs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from automations.engine.filetypes import (
    FileRejected,
    InputLimits,
    inspect_file,
    safe_filename,
)
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


MB = 1024 * 1024
MSG_NOT_STORED = (
    "This file could not be stored because of a problem on our side. "
    "Please upload it again in a few minutes."
)


def input_limits() -> InputLimits:
    """How far an upload may unpack, from the deployment's settings (README "Security")."""
    return InputLimits(
        unpacked_bytes=settings.PYQ_MAX_UNPACKED_MB * MB,
        member_bytes=settings.PYQ_MAX_UNPACKED_PART_MB * MB,
        members=settings.PYQ_MAX_ARCHIVE_PARTS,
        ratio=settings.PYQ_MAX_COMPRESSION_RATIO,
        xml_elements=settings.PYQ_MAX_XML_ELEMENTS,
        pdf_stream_bytes=settings.PYQ_MAX_PDF_STREAM_MB * MB,
        image_pixels=settings.PYQ_MAX_IMAGE_PIXELS,
        mail_attachments=settings.PYQ_MAX_MAIL_ATTACHMENTS,
        mail_depth=settings.PYQ_MAX_MAIL_DEPTH,
        mail_bytes=settings.PYQ_MAX_MAIL_UNPACKED_MB * MB,
    )


class AttachmentError(Exception):
    """A mail's attachments could not be stored; ``str(exc)`` says so for a person."""


def spool(
    stream: IO[bytes], limit: int, folder: str | None = None
) -> tuple[tempfile._TemporaryFileWrapper, str, int]:
    """Copy a stream to a temporary file (in `folder`, default the system's), hashing it;
    refuse it past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    tmp = tempfile.NamedTemporaryFile(prefix="pyq-upload-", dir=folder, delete=True)  # noqa: SIM115
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
    document = prepare_document(
        org, stream, filename, user=user, source=source, parent=parent, declared_size=declared_size
    )
    _save_documents(
        [document], trigger=trigger, user=user, pipeline=pipeline, version=version, enqueue=enqueue
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
) -> tuple[list[Document], list[Rejection]]:
    """Ingest uploaded files (Django UploadedFiles); a rejected file does not stop the others.
    With a workflow version, each file is run through it instead of the default reading.

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
        _discard_files(accepted)
        raise
    _save_documents(accepted, trigger=trigger, user=user, pipeline=pipeline, version=version)
    return accepted, rejected


def ingest_attachments(
    parent: Document, attachments: Iterable[tuple[str, bytes]]
) -> list[Rejection]:
    """Store each attachment of a mail as its own Document with a queued Run: all of them
    in one transaction, once. When the mail already has attachments, an earlier attempt
    saved them all, and nothing is done again.

    An attachment refused by its content (unsupported, damaged) is skipped and returned.
    Any other error stores none of them and raises AttachmentError, so that a retry
    stores them all.
    """
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
                trigger=Run.Trigger.EMAIL,
                user=parent.uploaded_by,
                pipeline=None,
                version=None,
            )
    except Exception as exc:
        # Nothing of this attempt is kept: the rows went with the transaction, the files go.
        _discard_files(prepared)
        log.exception("storing the attachment %r of document %s failed", name, parent.pk)
        raise AttachmentError(
            f"The attachment {safe_filename(name)} could not be stored, so none of this "
            "e-mail's attachments were kept. Retry the run to store them all."
        ) from exc
    except BaseException:
        _discard_files(prepared)
        raise
    return rejected


def _discard_files(documents: list[Document]) -> None:
    """Delete the stored files of documents whose rows were never saved."""
    for document in documents:
        try:
            document.file.delete(save=False)
        except Exception:  # already gone, or storage down: log, the caller's error matters
            log.warning("could not delete %s from storage", document.file.name, exc_info=True)


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
    tmp, sha256, size = spool(stream, limit, folder=_incoming_folder())
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
        if not _link_into_storage(document, tmp.name, name):
            tmp.seek(0)
            document.file.save(name, File(tmp, name=name), save=False)
    return document


def _local_storage() -> FileSystemStorage | None:
    storage = Document._meta.get_field("file").storage
    return storage if isinstance(storage, FileSystemStorage) else None


def _incoming_folder() -> str | None:
    """Where uploads are spooled: beside the stored files on local storage, so that the
    spooled file becomes the stored one by a link instead of a second copy."""
    storage = _local_storage()
    if storage is None:
        return None
    folder = os.path.join(storage.location, ".incoming")
    os.makedirs(folder, exist_ok=True)
    return folder


def _link_into_storage(document: Document, spooled: str, name: str) -> bool:
    """On local storage, store the spooled file under the document's name by a hard link
    (the spool's own name goes when it closes): no second write of the content. False
    when that cannot be done here; the caller saves through the storage instead."""
    storage = _local_storage()
    if storage is None:
        return False
    target = document.file.field.generate_filename(document, name)
    path = storage.path(target)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _chmod_folders(storage, os.path.dirname(path))
        os.link(spooled, path)  # fails if the name is taken, or across filesystems
    except OSError:
        return False
    if storage.file_permissions_mode is not None:
        os.chmod(path, storage.file_permissions_mode)
    document.file.name = target
    return True


def _chmod_folders(storage: FileSystemStorage, folder: str) -> None:
    """Give the folders below the storage's root its directory mode (as its own saves do;
    without a umask change, which would be process-wide)."""
    mode = storage.directory_permissions_mode
    root = os.path.abspath(storage.location)
    folder = os.path.abspath(folder)
    while mode is not None and folder.startswith(root + os.sep):
        os.chmod(folder, mode)
        folder = os.path.dirname(folder)


def _save_documents(
    documents: list[Document],
    *,
    trigger: str,
    user: User | None,
    pipeline: list[dict] | None,
    version: WorkflowVersion | None,
    enqueue: bool = True,
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
                _new_run(d, trigger=trigger, user=user, pipeline=pipeline, version=version)
                for d in documents
            ]
            Run.objects.bulk_create(runs)
            if enqueue:
                enqueue_runs(runs)
    except BaseException:
        # Store nothing half: the rows are gone with the transaction, so the files go too.
        for document in documents:
            document.file.delete(save=False)
        raise


def _new_run(
    document: Document,
    *,
    trigger: str,
    user: User | None,
    pipeline: list[dict] | None,
    version: WorkflowVersion | None = None,
    workflow: Workflow | None = None,
    is_test: bool = False,
) -> Run:
    if version is not None:
        pipeline, workflow = version.spec, version.workflow
    return Run(
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
    run = _new_run(
        document,
        trigger=trigger,
        user=user,
        pipeline=pipeline,
        version=version,
        workflow=workflow,
        is_test=is_test,
    )
    run.save()
    if enqueue:
        enqueue_run(run)
    return run


def enqueue_run(run: Run) -> None:
    """Send the run to the workers once the transaction that created it has committed."""
    enqueue_runs([run])


def enqueue_runs(runs: list[Run]) -> None:
    """Send runs to the workers in one message once their transaction has committed; a
    worker executes them in batches (automations.processing.execute_runs)."""
    from automations.tasks import process_run, process_runs

    ids = [run.pk for run in runs]
    if len(ids) == 1:
        transaction.on_commit(lambda: process_run.delay(ids[0]))
    elif ids:
        transaction.on_commit(lambda: process_runs.delay(ids))


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
    steps come from it; the steps from the first one the new version changes (its kind,
    configuration or condition) run again, since what follows may depend on it. Skipped
    steps are decided again. whole=True starts a new run of every step instead.
    """
    if run.status not in (Run.Status.FAILED, Run.Status.CANCELED):
        raise RunStateError("Only a failed or canceled run can be retried.")
    if whole:
        if run.workflow_version is not None:
            from automations.workflows import start_workflow_run

            workflow = run.workflow_version.workflow
            return start_workflow_run(workflow, run.document, user=user, trigger=Run.Trigger.RETRY)
        if run.is_test or run.pipeline != DEFAULT_PIPELINE:
            # A draft's test (or an API run with its own steps): the same steps again.
            return start_run(
                run.document,
                trigger=Run.Trigger.RETRY,
                user=user,
                pipeline=run.pipeline,
                workflow=run.workflow,
                is_test=run.is_test,
            )
        return reprocess(run.document, user=user)
    with transaction.atomic():
        version = run.workflow_version
        latest = version.workflow.current_version if version else None
        if latest is not None and latest != version:
            changed = _first_change(run.pipeline, latest.spec)
            run.steps.filter(position__gte=changed).delete()
            run.pipeline, run.workflow_version = latest.spec, latest
        run.steps.exclude(status=StepRun.Status.SUCCEEDED).delete()
        run.status, run.error, run.finished_at, run.heartbeat_at = Run.Status.QUEUED, "", None, None
        run.trigger, run.triggered_by, run.attempts = Run.Trigger.RETRY, user, 0
        run.save()
        enqueue_run(run)
    return run


def _first_change(old: list[dict], new: list[dict]) -> int:
    """The position of the first step that differs between two specs (len when none)."""
    for position, (before, after) in enumerate(zip(old, new, strict=False)):
        if _step_key(before) != _step_key(after):
            return position
    return min(len(old), len(new))


def _step_key(item: dict) -> str:
    return json.dumps(
        [
            item.get("id") or item.get("step"),
            item.get("step"),
            item.get("config") or {},
            item.get("when"),
            item.get("otherwise_of"),
        ],
        sort_keys=True,
    )


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


@contextlib.contextmanager
def local_path(document: Document) -> Iterator[str]:
    """A path to the stored file on this machine: the file itself on local storage, else a
    temporary copy (S3 and other remote storages) removed afterwards."""
    try:
        path = document.file.path  # FileSystemStorage only; others raise
    except NotImplementedError:
        path = None
    if path is not None and os.path.exists(path):
        yield path
        return
    with local_copy(document) as tmp:
        yield tmp.name


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
