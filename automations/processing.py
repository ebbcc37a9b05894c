"""Execute a Run: its pipeline of steps over its document, on a worker.

Idempotent: each step's result is a StepRun row per (run, step); a redelivered task skips
the finished steps, and extract_text resumes after the last stored page. A finished run is
left alone, and every failure ends the run with a message a person understands.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from datetime import timedelta

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image

from automations.engine.extract import PageResult, parse_email
from automations.engine.fields import PageText
from automations.engine.filetypes import FileRejected
from automations.engine.pipeline import StepSpec, parse_pipeline, run_pipeline_batch
from automations.engine.steps import DocumentInfo, StepContext, StepFailed, StepOutcome
from automations.models import Artifact, Document, DocumentEmbedding, Page, Run, StepRun
from automations.pipelines import DEFAULT_PIPELINE
from catalog.runtime.ocr import OcrLine, get_ocr_engine

log = logging.getLogger(__name__)


class RunBusy(Exception):
    """Another worker holds the run (its heartbeat is fresh): try again later."""


def execute_run(run_id: int, *, batch_size: int | None = None) -> None:
    """Execute a run, together with up to batch_size - 1 other queued runs of the same
    pipeline, so that model steps batch across documents. Messages of runs taken this way
    find them finished later and return."""
    runs = _claim(run_id, batch_size or settings.PYQ_BATCH_SIZE)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(json.dumps(run.pipeline, sort_keys=True), []).append(run)
    for group in groups.values():
        _execute_group(group)


def _execute_group(runs: list[Run]) -> None:
    try:
        errors = _execute(runs)
    except (OperationalError, InterfaceError):
        raise  # transient: the task retries with backoff; the runs resume where they stopped
    except SoftTimeLimitExceeded:
        message = (
            f"Processing this document took longer than the {settings.PYQ_RUN_TIME_LIMIT} s "
            "limit. Split it into smaller files."
        )
        for run in runs:
            _fail_running_steps(run, message)
            _finish(run, Run.Status.FAILED, message)
        return
    except Exception:
        log.exception("runs %s failed unexpectedly", [run.pk for run in runs])
        for run in runs:
            message = (
                f"Something went wrong on our side while processing this document (run "
                f"{run.pk}). It has been logged; retry it later."
            )
            _fail_running_steps(run, message)
            _finish(run, Run.Status.FAILED, message)
        raise
    for run, error in zip(runs, errors, strict=True):
        _finish(run, Run.Status.FAILED if error else Run.Status.SUCCEEDED, error or "")


def _execute(runs: list[Run]) -> list[str | None]:
    from automations.services import local_copy

    steps = parse_pipeline(runs[0].pipeline or DEFAULT_PIPELINE)
    with contextlib.ExitStack() as stack:
        items = []
        for run in runs:
            document = run.document
            tmp = stack.enter_context(local_copy(document))
            services = RunServices(run)
            context = StepContext(
                document=DocumentInfo(
                    name=document.original_name,
                    kind=document.kind,
                    path=tmp.name,
                    page_count=document.page_count,
                ),
                pages=load_pages(document),
                services=services,
            )
            items.append((context, StepRunStore(run, services)))
        return run_pipeline_batch(steps, items, step_time_limit=settings.PYQ_STEP_TIME_LIMIT)


def _claim(run_id: int, batch_size: int = 1) -> list[Run]:
    """Mark the run (and up to batch_size - 1 other queued runs) running.

    Returns [] when the run is gone or finished; raises RunBusy when another worker holds it
    (a redelivered message while the first worker still sends heartbeats).
    """
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_active:
            return []
        lease = timedelta(seconds=settings.PYQ_STEP_TIME_LIMIT + 60)
        if run.status == Run.Status.RUNNING and run.heartbeat_at and run.heartbeat_at > now - lease:
            raise RunBusy(run_id)
        ids = [run.pk]
        if batch_size > 1:
            others = Run.objects.filter(status=Run.Status.QUEUED).exclude(pk=run.pk)
            if connection.features.has_select_for_update_skip_locked:
                others = others.select_for_update(skip_locked=True)
            ids += list(
                others.order_by("created_at", "pk").values_list("pk", flat=True)[: batch_size - 1]
            )
        Run.objects.filter(pk__in=ids).update(
            status=Run.Status.RUNNING, heartbeat_at=now, attempts=F("attempts") + 1
        )
        Run.objects.filter(pk__in=ids, started_at__isnull=True).update(started_at=now)
    return list(
        Run.objects.filter(pk__in=ids).select_related("document", "organization").order_by("pk")
    )


def load_pages(document: Document) -> list[PageText]:
    return [
        PageText(
            number=page.number,
            text=page.text,
            lines=[
                OcrLine(line["text"], line["confidence"], tuple(line["box"])) for line in page.lines
            ],
            width=page.width,
            height=page.height,
        )
        for page in document.pages.all()
    ]


class StepRunStore:
    """Step results as StepRun rows, one per (run, position).

    The run's step rows are read once; a step that starts writes one row (or updates the
    row of an earlier, failed attempt), and its end one update: few queries per document,
    which matters when a worker processes short documents in batches.
    """

    def __init__(self, run: Run, services: RunServices) -> None:
        self.run = run
        self.services = services
        self.rows = {row.position: row for row in run.steps.all()}

    def finished_output(self, spec: StepSpec) -> dict | None:
        for row in self.rows.values():
            if row.step_id == spec.id and row.status == StepRun.Status.SUCCEEDED:
                return row.output
        return None

    def started(self, position: int, spec: StepSpec) -> None:
        if Run.objects.filter(pk=self.run.pk, status=Run.Status.CANCELED).exists():
            raise StepFailed("The run was canceled.")
        self.services.current_step = spec.id
        now = timezone.now()
        fresh = {
            "step_id": spec.id,
            "step": spec.step,
            "status": StepRun.Status.RUNNING,
            "started_at": now,
            "finished_at": None,
            "error": "",
        }
        if position in self.rows:
            StepRun.objects.filter(pk=self.rows[position].pk).update(**fresh)
        else:
            self.rows[position] = StepRun.objects.create(run=self.run, position=position, **fresh)
        Run.objects.filter(pk=self.run.pk).update(heartbeat_at=now)

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self.run.steps.filter(step_id=spec.id).update(
            status=StepRun.Status.SUCCEEDED,
            output=outcome.output,
            warnings=outcome.warnings,
            finished_at=timezone.now(),
            seconds=round(seconds, 3),
        )
        if outcome.warnings:
            self.run.warnings = [*self.run.warnings, *outcome.warnings]
            self.run.save(update_fields=["warnings"])

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self.run.steps.filter(step_id=spec.id).update(
            status=StepRun.Status.FAILED,
            error=message,
            output=output or {},
            finished_at=timezone.now(),
            seconds=round(seconds, 3),
        )


class RunServices:
    """What steps may ask of the outside world during a run (see automations/steps)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.document = run.document
        self.current_step = ""

    # extract_text
    @property
    def max_pages(self) -> int:
        return settings.PYQ_MAX_PAGES

    def ocr(self, preference: str):
        return get_ocr_engine(settings.PYQ_OCR_ENGINE if preference == "default" else preference)

    def pages_done(self) -> int:
        return self.document.pages.count()

    def store_page(self, result: PageResult) -> None:
        _store_page(self.document, result)
        self.run.pages_done = result.number
        self.run.pages_total = max(self.run.pages_total, result.number)
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=["pages_done", "pages_total", "heartbeat_at"])

    def load_pages(self) -> list[PageText]:
        return load_pages(self.document)

    def ingest_attachments(self, path: str) -> None:
        _ingest_attachments(self.run, path)

    # classify, summarize, similar_documents
    def embedder(self, ref: str):
        from catalog.runtime.embeddings import load_embedder  # torch: workers only

        return load_embedder(ref)

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        from automations.steps.similar_documents import near_duplicates

        rows = (
            DocumentEmbedding.objects.filter(organization=self.document.organization_id)
            .exclude(document=self.document)
            .select_related("document")
        )
        candidates = [(row.document, np.frombuffer(row.vector, dtype=np.float32)) for row in rows]
        return [
            {
                "document": str(hit["document"].uid),
                "name": hit["document"].original_name,
                "score": hit["score"],
            }
            for hit in near_duplicates(vector, candidates, threshold, limit)
        ]

    def store_embedding(self, vector: list[float], model: str = "minilm") -> None:
        DocumentEmbedding.objects.update_or_create(
            document=self.document,
            model=model,
            defaults={
                "organization_id": self.document.organization_id,
                "vector": np.asarray(vector, dtype=np.float32).tobytes(),
            },
        )

    # tag
    def tag_document(self, tags: list[str], doc_type: str | None) -> dict:
        document = Document.objects.get(pk=self.document.pk)
        document.tags = list(dict.fromkeys([*document.tags, *tags]))
        if doc_type:
            document.doc_type = doc_type
        document.save(update_fields=["tags", "doc_type"])
        return {"tags": document.tags, "doc_type": document.doc_type}

    # redact
    def page_image(self, number: int) -> Image.Image | None:
        page = self.document.pages.filter(number=number).first()
        if page is None or not page.image:
            return None
        with page.image.open("rb") as fh:
            return Image.open(io.BytesIO(fh.read())).convert("RGB")

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        artifact = Artifact(
            run=self.run, step_id=self.current_step, name=filename, content_type=content_type
        )
        artifact.file.save(filename, ContentFile(data), save=False)
        artifact.save()
        return str(artifact.uid)

    # webhook
    @property
    def allow_private_urls(self) -> bool:
        return settings.PYQ_ALLOW_PRIVATE_URLS


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


def _fail_running_steps(run: Run, message: str) -> None:
    run.steps.filter(status=StepRun.Status.RUNNING).update(
        status=StepRun.Status.FAILED, error=message, finished_at=timezone.now()
    )


def _finish(run: Run, status: str, error: str = "") -> None:
    """End a running run; one canceled meanwhile stays canceled."""
    changes = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == Run.Status.SUCCEEDED:
        changes["pages_done"] = run.pages_total
    if Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(**changes):
        for name, value in changes.items():
            setattr(run, name, value)


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
