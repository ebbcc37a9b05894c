"""Execute a Run: read the document's text page by page and store it.

Idempotent: a redelivered task resumes after the last stored page, a finished run is left
alone, and every failure ends the run with a message a person understands.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from automations.engine.extract import ExtractionError, PageResult, iter_pages, parse_email
from automations.engine.filetypes import FileRejected, inspect_file
from automations.models import Document, Page, Run, StepRun
from catalog.runtime.ocr import get_ocr_engine

log = logging.getLogger(__name__)

EXTRACT_STEP = "extract_text"
NO_TEXT = (
    "No text was found in this document. If it is a scan or a photo, check that it is "
    "sharp, upright and not blank, then upload it again."
)


class RunFailed(Exception):
    """A failure whose message is shown to the user as it is."""


def execute_run(run_id: int) -> None:
    run = _claim(run_id)
    if run is None:
        return
    step, _ = StepRun.objects.get_or_create(run=run, position=0, defaults={"step": EXTRACT_STEP})
    if step.status == StepRun.Status.SUCCEEDED:
        _finish(run, Run.Status.SUCCEEDED)
        return
    try:
        output = _extract_text(run)
    except (RunFailed, FileRejected, ExtractionError) as exc:
        _fail(run, step, str(exc))
    except SoftTimeLimitExceeded:
        _fail(
            run,
            step,
            f"Reading this document took longer than the "
            f"{settings.PYQ_RUN_TIME_LIMIT} s limit. Split it into smaller files.",
        )
    except (OperationalError, InterfaceError):
        raise  # transient: the task retries with backoff; the run resumes where it stopped
    except Exception:
        log.exception("run %s failed unexpectedly", run_id)
        _fail(
            run,
            step,
            f"Something went wrong on our side while reading this document "
            f"(run {run.pk}). It has been logged; retry it later.",
        )
        raise
    else:
        step.status = StepRun.Status.SUCCEEDED
        step.output = output
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "output", "finished_at"])
        _finish(run, Run.Status.SUCCEEDED)


def _claim(run_id: int) -> Run | None:
    """Mark the run running; None when it is gone or already finished."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .select_related("document", "organization")
            .filter(pk=run_id)
            .first()
        )
        if run is None or not run.is_active:
            return None
        now = timezone.now()
        run.status = Run.Status.RUNNING
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.attempts = F("attempts") + 1
        run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    run.refresh_from_db()
    return run


def _extract_text(run: Run) -> dict:
    from automations.services import local_copy

    document = run.document
    with local_copy(document) as tmp:
        inspection = inspect_file(tmp.name, max_pages=settings.PYQ_MAX_PAGES)
        if document.page_count != inspection.page_count or run.pages_total != inspection.page_count:
            document.page_count = run.pages_total = inspection.page_count
            document.save(update_fields=["page_count"])
            run.save(update_fields=["pages_total"])
        if inspection.kind.kind == "eml":
            _ingest_attachments(run, tmp.name)
        done = document.pages.count()
        ocr = get_ocr_engine(settings.PYQ_OCR_ENGINE)
        for page in iter_pages(
            tmp.name, inspection.kind, ocr, start=done + 1, ocr_dpi=settings.PYQ_OCR_DPI
        ):
            _store_page(document, page)
            run.pages_done = page.number
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["pages_done", "heartbeat_at"])
    pages = list(document.pages.all())
    characters = sum(len(p.text.strip()) for p in pages)
    if characters == 0:
        raise RunFailed(NO_TEXT)
    confidences = [p.ocr_confidence for p in pages if p.ocr_confidence is not None]
    return {
        "pages": len(pages),
        "characters": characters,
        "methods": sorted({p.method for p in pages}),
        "ocr_engine": ocr.name if confidences else None,
        "ocr_confidence": round(sum(confidences) / len(confidences), 3) if confidences else None,
        "attachments": document.attachments.count(),
    }


def _store_page(document: Document, result: PageResult) -> None:
    with transaction.atomic():
        page, _ = Page.objects.update_or_create(
            document=document,
            number=result.number,
            defaults={
                "text": result.text,
                "method": result.method,
                "ocr_confidence": result.confidence,
                "lines": [
                    {"text": ln.text, "confidence": round(ln.confidence, 4), "box": list(ln.box)}
                    for ln in result.lines
                ],
            },
        )
        if result.image is not None:
            buffer = io.BytesIO()
            result.image.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True)
            if page.image:
                page.image.delete(save=False)
            page.image.save(f"{result.number}.jpg", ContentFile(buffer.getvalue()), save=False)
            page.width, page.height = result.image.size
            page.save(update_fields=["image", "width", "height"])


def _ingest_attachments(run: Run, path: str) -> None:
    """Each attachment of a mail becomes its own Document and Run (once, even if redelivered)."""
    from automations.services import ingest

    document = run.document
    if document.attachments.exists():
        return
    skipped = []
    for attachment in parse_email(path).attachments:
        try:
            ingest(
                document.organization,
                io.BytesIO(attachment.data),
                attachment.filename,
                user=document.uploaded_by,
                source=Document.Source.EMAIL,
                trigger=Run.Trigger.EMAIL,
                parent=document,
            )
        except FileRejected as exc:
            skipped.append(f"Attachment {attachment.filename} was skipped: {exc}")
    if skipped:
        run.warnings = [*run.warnings, *skipped]
        run.save(update_fields=["warnings"])


def _fail(run: Run, step: StepRun, message: str) -> None:
    step.status = StepRun.Status.FAILED
    step.error = message
    step.finished_at = timezone.now()
    step.save(update_fields=["status", "error", "finished_at"])
    _finish(run, Run.Status.FAILED, message)


def _finish(run: Run, status: str, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    if status == Run.Status.SUCCEEDED:
        run.pages_done = run.pages_total
    run.save(update_fields=["status", "error", "finished_at", "pages_done"])


def fail_stuck_runs(now=None) -> int:
    """Fail runs whose worker stopped sending heartbeats past the run time limit."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.PYQ_RUN_TIME_LIMIT + 120)
    stuck = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=now - limit)
    return stuck.update(
        status=Run.Status.FAILED,
        finished_at=now,
        error="The worker processing this run stopped responding. Retry the run.",
    )
