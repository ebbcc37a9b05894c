"""Execute a Run: its pipeline of steps over its document, on a worker.

Idempotent: each step's result is a StepRun row per (run, step); a redelivered task skips
the finished steps, and extract_text resumes after the last stored page. A finished run is
left alone, and every failure ends the run with a message a person understands.

Reliability, in short:
- An organization has at most PYQ_ORG_MAX_RUNNING runs running while other organizations'
  runs wait; alone in the queue, it may use every idle worker (_claim). A run
  that cannot start yet stays queued, and its task asks again a little later (tasks.py):
  the message stays with the broker until the run starts, so no wake-up can be lost.
- While a worker executes runs, a background thread keeps their heartbeat fresh
  (Heartbeat). A run left "running" with a stale heartbeat lost its worker (killed, out of
  memory, machine gone): recover_orphaned_runs, on the beat every minute, queues it again,
  and it resumes after its last finished step; after MAX_RUN_ATTEMPTS it is failed with a
  reason instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from datetime import timedelta

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from PIL import Image

from accounts.models import Organization
from automations.engine.extract import PageResult, parse_email
from automations.engine.fields import PageText
from automations.engine.pipeline import (
    RetryPolicy,
    StepSpec,
    log_line,
    parse_pipeline,
    run_pipeline_batch,
)
from automations.engine.steps import DocumentInfo, StepContext, StepFailed, StepOutcome
from automations.models import Artifact, Document, DocumentEmbedding, Page, Run, StepRun
from automations.pipelines import DEFAULT_PIPELINE
from catalog.runtime.ocr import OcrLine, get_ocr_engine

log = logging.getLogger(__name__)


MAX_RUN_ATTEMPTS = 3  # times a run is started before a lost worker fails it for good
ORPHAN_MARGIN = 60  # seconds past the lease before a silent run counts as orphaned
HEARTBEAT_SECONDS = 30.0  # how often a worker refreshes its runs' heartbeat
QUEUE_ORDER = ("-is_test", "created_at", "pk")
OCR_KINDS = {"pdf", "png", "jpeg", "tiff"}  # a builder's test first, then oldest first

# The engine's pause between attempts of a step that failed for a passing reason; tests
# replace it so that they do not wait.
sleep = time.sleep


class RunBusy(Exception):
    """Another worker holds the run (its heartbeat is fresh): try again later."""


def execute_run(run_id: int, *, batch_size: int | None = None) -> bool:
    """Execute a run, together with up to batch_size - 1 other queued runs of the same
    pipeline, so that model steps batch across documents. Messages of runs taken this way
    find them finished later and return.

    Returns False when the run cannot start yet because its organization already has
    PYQ_ORG_MAX_RUNNING runs running (or older runs of it are first in line): it stays
    queued, and the caller asks again later. True otherwise (also when the run was gone
    or finished)."""
    runs = _claim(run_id, batch_size or settings.PYQ_BATCH_SIZE)
    if runs is None:
        return False
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(json.dumps(run.pipeline, sort_keys=True), []).append(run)
    with Heartbeat([run.pk for run in runs]):
        for group in groups.values():
            _execute_group(group)
    return True


def execute_runs(run_ids: list[int]) -> list[int]:
    """Execute the runs of one message, a batch at a time (see execute_run, which also takes
    other queued runs). Returns the runs that are still queued and could not be started
    here, for the caller to send again on their own."""
    remaining = list(run_ids)
    left: list[int] = []
    while remaining:
        queued = set(
            Run.objects.filter(pk__in=remaining, status=Run.Status.QUEUED).values_list(
                "pk", flat=True
            )
        )
        remaining = [pk for pk in remaining if pk in queued]
        if not remaining:
            break
        head, remaining = remaining[0], remaining[1:]
        try:
            started = execute_run(head)
        except RunBusy:
            continue
        if not started:
            left.append(head)  # not taken (its organization is at its limit): later
    return left


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
    succeeded = [run for run, error in zip(runs, errors, strict=True) if not error]
    _finish_succeeded(succeeded)
    for run, error in zip(runs, errors, strict=True):
        if error:
            _finish(run, Run.Status.FAILED, error)


def _execute(runs: list[Run]) -> list[str | None]:
    from automations.services import local_path

    steps = parse_pipeline(runs[0].pipeline or DEFAULT_PIPELINE)
    pages = _pages_of([run.document_id for run in runs])
    writer = BatchWriter(runs)
    with contextlib.ExitStack() as stack:
        items = []
        for run in runs:
            document = run.document
            services = RunServices(run, pages.get(document.pk, []), writer)
            context = StepContext(
                document=DocumentInfo(
                    name=document.original_name,
                    kind=document.kind,
                    path=stack.enter_context(local_path(document)),
                    page_count=document.page_count,
                ),
                pages=list(services.pages),
                services=services,
            )
            items.append((context, StepRunStore(run, services, writer)))
        try:
            return run_pipeline_batch(
                steps, items, step_time_limit=settings.PYQ_STEP_TIME_LIMIT, retry=retry_policy()
            )
        finally:
            writer.flush()  # what a failure left gathered


def retry_policy() -> RetryPolicy:
    """How the engine retries a step that failed for a reason that may pass."""
    return RetryPolicy(
        attempts=settings.PYQ_STEP_RETRY_ATTEMPTS,
        base=settings.PYQ_STEP_RETRY_BASE,
        sleep=_pause,
    )


def _pause(seconds: float) -> None:
    sleep(seconds)


def _claim(run_id: int, batch_size: int = 1) -> list[Run] | None:
    """Mark the run (and up to batch_size - 1 other queued runs) running.

    Returns [] when the run is gone or finished, and None when it must wait for a slot of
    its organization; raises RunBusy when another worker holds it (a redelivered message
    while the first worker still sends heartbeats).

    No organization has more than PYQ_ORG_MAX_RUNNING runs running while another
    organization's runs wait (with nobody else waiting, idle workers take its runs): the rows of the
    organizations involved are locked while their running runs are counted (in pk order,
    after the run rows, so that two workers never wait on each other), and a queued run
    starts only when it is among the first in line for its organization's free slots
    (QUEUE_ORDER), so that older runs are not overtaken forever by newer ones.
    """
    now = timezone.now()
    limit = settings.PYQ_ORG_MAX_RUNNING
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_active:
            return []
        if run.status == Run.Status.RUNNING and _fresh(run.heartbeat_at, now):
            raise RunBusy(run_id)
        # (pk, organization id, pages that may need OCR) of queued candidates
        others: list[tuple[int, int, int]] = []
        if batch_size > 1:
            queued = Run.objects.filter(status=Run.Status.QUEUED).exclude(pk=run.pk)
            if connection.features.has_select_for_update_skip_locked:
                queued = queued.select_for_update(skip_locked=True, of=("self",))
            # More than a batch: some may belong to organizations that are at their limit.
            window = batch_size * 2 if limit else batch_size - 1
            others = [
                (pk, org, _ocr_pages(kind, pages))
                for pk, org, kind, pages in queued.order_by(*QUEUE_ORDER).values_list(
                    "pk", "organization_id", "document__kind", "pages_total"
                )[:window]
            ]
        orgs = {run.organization_id, *(org for _, org, _ in others)}
        if limit and _alone_in_queue(run.organization_id, orgs):
            limit = 0  # nobody else waits: idle workers take this organization's runs too
        free = _free_slots(orgs, limit)
        if run.status == Run.Status.QUEUED and not _first_in_line(run, free):
            return None
        ids = [run.pk]
        if run.status == Run.Status.QUEUED:
            _take_slot(free, run.organization_id)
        pages = _ocr_pages(run.document.kind, run.pages_total)
        for pk, org, ocr_pages in others:
            if len(ids) >= batch_size:
                break
            if pages + ocr_pages > settings.PYQ_BATCH_PAGES:
                continue  # a scan too many for this batch; a smaller document may still fit
            if _take_slot(free, org):
                ids.append(pk)
                pages += ocr_pages
        Run.objects.filter(pk__in=ids).update(
            status=Run.Status.RUNNING, heartbeat_at=now, attempts=F("attempts") + 1
        )
        Run.objects.filter(pk__in=ids, started_at__isnull=True).update(started_at=now)
    return list(
        Run.objects.filter(pk__in=ids)
        .select_related("document", "organization")
        .prefetch_related("steps")
        .order_by("pk")
    )


def _ocr_pages(kind: str, pages: int) -> int:
    """The pages of a document that may need OCR (seconds each): images and PDFs. Text,
    Word and mail documents are read in milliseconds and count as none."""
    return max(1, pages) if kind in OCR_KINDS else 0


def _lease() -> timedelta:
    """How long a run's heartbeat stays fresh: a step's time limit and a minute."""
    return timedelta(seconds=settings.PYQ_STEP_TIME_LIMIT + 60)


def _fresh(heartbeat_at, now) -> bool:
    return heartbeat_at is not None and heartbeat_at > now - _lease()


def _free_slots(org_ids: set[int], limit: int) -> dict[int, int] | None:
    """Free slots per organization, with the organizations' rows locked until the end of
    the transaction; None when there is no limit (PYQ_ORG_MAX_RUNNING=0)."""
    if not limit:
        return None
    list(Organization.objects.select_for_update().filter(pk__in=org_ids).order_by("pk"))
    running = dict(
        Run.objects.filter(status=Run.Status.RUNNING, organization__in=org_ids)
        .values_list("organization")
        .annotate(n=Count("pk"))
        .values_list("organization", "n")
    )
    return {org: max(0, limit - running.get(org, 0)) for org in org_ids}


def _alone_in_queue(org_id: int, orgs: set[int]) -> bool:
    """Whether the organization's runs are the only ones waiting. The limit on running runs is
    there to share the workers fairly; with no other organization waiting it would only leave
    workers idle (one organization's upload fills a batch: the next worker would wait)."""
    if orgs != {org_id}:
        return False
    return not Run.objects.filter(status=Run.Status.QUEUED).exclude(organization=org_id).exists()


def _first_in_line(run: Run, free: dict[int, int] | None) -> bool:
    """Whether a queued run may take one of its organization's free slots: fewer queued
    runs of that organization come before it than there are free slots."""
    if free is None:
        return True
    slots = free.get(run.organization_id, 0)
    if slots <= 0:
        return False
    earlier = Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk)
    before = Q(is_test=True) if not run.is_test else Q(pk__in=[])
    ahead = Run.objects.filter(
        Q(is_test=run.is_test) & earlier | before,
        status=Run.Status.QUEUED,
        organization=run.organization_id,
    ).exclude(pk=run.pk)
    return ahead[:slots].count() < slots


def _take_slot(free: dict[int, int] | None, org: int) -> bool:
    if free is None:
        return True
    if free.get(org, 0) <= 0:
        return False
    free[org] -= 1
    return True


class Heartbeat:
    """Keeps the heartbeat of the runs a worker executes fresh, from a background thread,
    so that a long step (a batch of model calls, a webhook's retries) is never taken for a
    lost worker. The thread dies with the process: a killed worker's runs go stale and
    recover_orphaned_runs queues them again. It stops beating at the task's hard time
    limit, so a run that somehow goes on past it is recovered too."""

    def __init__(self, run_ids: list[int], interval: float | None = None) -> None:
        self.run_ids = run_ids
        self.interval = interval or HEARTBEAT_SECONDS
        self.deadline = time.monotonic() + settings.PYQ_RUN_TIME_LIMIT + 60
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.run_ids:
            self.thread = threading.Thread(target=self._beat, name="pyq-heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.interval) and time.monotonic() < self.deadline:
                try:
                    Run.objects.filter(pk__in=self.run_ids, status=Run.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a busy database: the next beat tries again
                    log.warning("heartbeat of runs %s failed", self.run_ids, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only


def load_pages(document: Document) -> list[PageText]:
    return [_page_text(page) for page in document.pages.all()]


def _pages_of(document_ids: list[int]) -> dict[int, list[PageText]]:
    """The stored pages of several documents, in one query."""
    pages: dict[int, list[PageText]] = {}
    for page in Page.objects.filter(document__in=document_ids).order_by("document", "number"):
        pages.setdefault(page.document_id, []).append(_page_text(page))
    return pages


def _page_text(page: Page) -> PageText:
    return PageText(
        number=page.number,
        text=page.text,
        lines=[OcrLine(ln["text"], ln["confidence"], tuple(ln["box"])) for ln in page.lines],
        width=page.width,
        height=page.height,
    )


class BatchWriter:
    """The database writes of one batch of runs, gathered and sent together.

    The engine calls each store's `flush()` where the state must be visible (before a step
    runs, before a pause between attempts, after the step): the step rows of the whole
    batch are then created, updated and their runs' heartbeats refreshed in one
    transaction, a few queries for 32 documents rather than a few per document. Whether a
    run was canceled is read once per step for the batch.
    """

    def __init__(self, runs: list[Run]) -> None:
        self.run_ids = [run.pk for run in runs]
        self.creates: list[StepRun] = []
        self.pages: list[Page] = []  # text pages (no image) of documents read in this batch
        self.updates: dict[int, tuple[StepRun, set[str]]] = {}  # id(row) -> row, fields
        self.run_updates: dict[int, tuple[Run, set[str]]] = {}
        self.beat: set[int] = set()
        self._canceled: tuple[int, set[int]] | None = None  # (position, run ids)

    def canceled(self, run_id: int, position: int) -> bool:
        if self._canceled is None or self._canceled[0] != position:
            ids = Run.objects.filter(pk__in=self.run_ids, status=Run.Status.CANCELED)
            self._canceled = (position, set(ids.values_list("pk", flat=True)))
        return run_id in self._canceled[1]

    def create(self, row: StepRun) -> None:
        self.creates.append(row)

    def update(self, row: StepRun, fields: dict) -> None:
        for name, value in fields.items():
            setattr(row, name, value)
        if any(row is created for created in self.creates):
            return  # not written yet: the insert carries the new values
        _, names = self.updates.setdefault(id(row), (row, set()))
        names.update(fields)

    def update_run(self, run: Run, fields: dict) -> None:
        for name, value in fields.items():
            setattr(run, name, value)
        _, names = self.run_updates.setdefault(run.pk, (run, set()))
        names.update(fields)

    def flush(self) -> None:
        if not (self.creates or self.pages or self.updates or self.run_updates or self.beat):
            return
        with transaction.atomic():
            if self.pages:
                Page.objects.bulk_create(self.pages)
            if self.creates:
                StepRun.objects.bulk_create(self.creates)
            by_fields: dict[tuple[str, ...], list[StepRun]] = {}
            for row, names in self.updates.values():
                by_fields.setdefault(tuple(sorted(names)), []).append(row)
            for names, rows in by_fields.items():
                _update_rows(StepRun, rows, names)
            runs_by_fields: dict[tuple[str, ...], list[Run]] = {}
            for run, names in self.run_updates.values():
                runs_by_fields.setdefault(tuple(sorted(names)), []).append(run)
            for names, runs in runs_by_fields.items():
                _update_rows(Run, runs, names)
            if self.beat:
                Run.objects.filter(pk__in=self.beat).update(heartbeat_at=timezone.now())
        self.creates, self.pages, self.updates, self.run_updates = [], [], {}, {}
        self.beat = set()


def _update_rows(model, rows: list, names: tuple[str, ...]) -> None:
    """UPDATE the named fields of many rows as one prepared statement run for each row
    (executemany): Django's bulk_update builds a CASE expression per field and row, which
    costs more CPU than the writes themselves for a batch of step rows."""
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text; values are parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


class StepRunStore:
    """Step results as StepRun rows, one per (run, position).

    The run's step rows come with the run (prefetched); a step that starts makes one row
    (or reuses the row of an earlier attempt) and its end changes it. The writes go through
    the batch's BatchWriter, which sends them when the engine flushes. Log lines the engine
    adds are kept with the step's next change of state.
    """

    def __init__(self, run: Run, services: RunServices, writer: BatchWriter | None = None) -> None:
        self.run = run
        self.services = services
        self.writer = writer or BatchWriter([run])
        self.rows = {row.position: row for row in run.steps.all()}
        self.current: dict[str, StepRun] = {}  # step id -> its row in this execution
        self.pending: dict[str, list[dict]] = {}  # log lines not written yet
        self.position = 0

    def flush(self) -> None:
        self.writer.flush()

    def finished_output(self, spec: StepSpec) -> dict | None:
        for row in self.rows.values():
            if row.step_id == spec.id and row.status == StepRun.Status.SUCCEEDED:
                return row.output
        return None

    def log(self, spec: StepSpec, level: str, message: str) -> None:
        self.pending.setdefault(spec.id, []).append(log_line(level, message))

    def started(self, position: int, spec: StepSpec, input: dict) -> None:
        self.position = position
        self._check_not_canceled()
        self.services.current_step = spec.id
        earlier = self.rows.get(position)
        history: list[dict] = []
        attempts = 0
        if (
            earlier is not None
            and earlier.step_id == spec.id
            and earlier.status == StepRun.Status.RUNNING
        ):
            # The worker that ran this step before was lost: keep what it logged.
            history = [
                *earlier.log,
                log_line("warning", "The worker running this step stopped; it starts again."),
            ]
            attempts = earlier.attempts
        self._write(
            position,
            spec,
            status=StepRun.Status.RUNNING,
            started_at=timezone.now(),
            finished_at=None,
            error="",
            input=input,
            output={},
            warnings=[],
            seconds=None,
            attempts=attempts + 1,
            log=[*history, *self.pending.pop(spec.id, [])],
        )
        self.writer.beat.add(self.run.pk)

    def retrying(self, spec: StepSpec, attempt: int) -> None:
        self.writer.flush()  # a pause follows: show the attempt (and see a cancel) first
        self._check_not_canceled(fresh=True)
        row = self.current[spec.id]
        self.writer.update(
            row, {"attempts": attempt, "log": [*row.log, *self.pending.pop(spec.id, [])]}
        )
        self.writer.beat.add(self.run.pk)

    def skipped(self, position: int, spec: StepSpec, reason: str, input: dict) -> None:
        now = timezone.now()
        self._write(
            position,
            spec,
            status=StepRun.Status.SKIPPED,
            started_at=now,
            finished_at=now,
            error="",
            input=input,
            output={},
            warnings=[],
            seconds=0.0,
            attempts=0,
            log=self.pending.pop(spec.id, []),
        )

    def succeeded(self, spec: StepSpec, outcome: StepOutcome, seconds: float) -> None:
        self._finish_step(
            spec,
            status=StepRun.Status.SUCCEEDED,
            output=outcome.output,
            warnings=outcome.warnings,
            seconds=seconds,
        )
        if outcome.warnings:
            self.writer.update_run(self.run, {"warnings": [*self.run.warnings, *outcome.warnings]})

    def failed(
        self, spec: StepSpec, message: str, seconds: float, output: dict | None = None
    ) -> None:
        self._finish_step(
            spec, status=StepRun.Status.FAILED, error=message, output=output or {}, seconds=seconds
        )

    def _finish_step(self, spec: StepSpec, *, seconds: float, **changes) -> None:
        row = self.current[spec.id]
        changes.update(
            finished_at=timezone.now(),
            seconds=round(seconds, 3),
            log=[*row.log, *self.pending.pop(spec.id, [])],
        )
        self.writer.update(row, changes)

    def _write(self, position: int, spec: StepSpec, **fields) -> None:
        """The row at this position becomes this step's (a row of an earlier attempt, or
        of a step an earlier version had there, is reused)."""
        fields.update(step_id=spec.id, step=spec.step)
        row = self.rows.get(position)
        if row is not None:
            self.writer.update(row, fields)
        else:
            row = StepRun(run=self.run, position=position, **fields)
            self.writer.create(row)
            self.rows[position] = row
        self.current[spec.id] = row

    def _check_not_canceled(self, fresh: bool = False) -> None:
        if fresh:
            self.writer._canceled = None
        if self.writer.canceled(self.run.pk, self.position):
            raise StepFailed("The run was canceled.")


class RunServices:
    """What steps may ask of the outside world during a run (see automations/steps)."""

    def __init__(
        self,
        run: Run,
        pages: list[PageText] | None = None,
        writer: BatchWriter | None = None,
    ) -> None:
        self.run = run
        self.document = run.document
        self.current_step = ""
        # The document's stored pages, kept up to date as extract_text stores more.
        self.pages = load_pages(self.document) if pages is None else list(pages)
        self.writer = writer or BatchWriter([run])

    # extract_text
    @property
    def max_pages(self) -> int:
        return settings.PYQ_MAX_PAGES

    @property
    def input_limits(self):
        from automations.services import input_limits

        return input_limits()

    def ocr(self, preference: str):
        return get_ocr_engine(settings.PYQ_OCR_ENGINE if preference == "default" else preference)

    def pages_done(self) -> int:
        return len(self.pages)

    def store_page(self, result: PageResult) -> None:
        exists = any(p.number == result.number for p in self.pages)
        if result.image is None and not exists:
            # A text page: written with the batch's other rows when the step ends.
            page = Page(document=self.document, number=result.number, **_page_fields(result))
            self.writer.pages.append(page)
        else:
            page = _store_page(self.document, result, exists=exists)
        self.pages = [p for p in self.pages if p.number != result.number]
        self.pages.append(_page_text(page))
        self.pages.sort(key=lambda p: p.number)
        progress = {
            "pages_done": result.number,
            "pages_total": max(self.run.pages_total, result.number),
        }
        if result.number > 1 or self.run.pages_total > 1:
            # Live progress for a document of several pages (OCR takes seconds a page).
            Run.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now(), **progress)
            for name, value in progress.items():
                setattr(self.run, name, value)
        else:
            self.writer.update_run(self.run, progress)

    def load_pages(self) -> list[PageText]:
        return list(self.pages)

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

    # email, table (automations/delivery.py, automations/tables.py)
    @property
    def run_url(self) -> str:
        from automations.delivery import run_url

        return run_url(self.run)

    def send_email(self, **message) -> dict:
        from automations.delivery import send_email

        return send_email(self.run, **message)

    def append_table_row(self, table: str, values: dict) -> dict:
        from automations.tables import append_row

        row = append_row(self.run, self.current_step, table, values)
        return {"table": row.table.name, "row": row.pk}


def _page_fields(result: PageResult) -> dict:
    return {
        "text": result.text,
        "method": result.method,
        "ocr_confidence": result.confidence,
        "lines": [
            {"text": ln.text, "confidence": round(ln.confidence, 4), "box": list(ln.box)}
            for ln in result.lines
        ],
    }


def _store_page(document: Document, result: PageResult, *, exists: bool = True) -> Page:
    fields = _page_fields(result)
    with transaction.atomic():
        if exists:  # a step run again after a lost worker: that page is read again
            page, _ = Page.objects.update_or_create(
                document=document, number=result.number, defaults=fields
            )
        else:
            page = Page.objects.create(document=document, number=result.number, **fields)
        if result.image is not None:
            buffer = io.BytesIO()
            result.image.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True)
            if page.image:
                page.image.delete(save=False)
            page.image.save(f"{result.number}.jpg", ContentFile(buffer.getvalue()), save=False)
            page.width, page.height = result.image.size
            page.save(update_fields=["image", "width", "height"])
    return page


def _ingest_attachments(run: Run, path: str) -> None:
    """Each attachment of a mail becomes its own Document and Run: all of them together,
    once, even if the task is redelivered or the run retried (services.ingest_attachments).
    A mail past the limits, or an attachment that could not be stored, fails the step
    with the reason; nothing of it is kept, so a retry stores them all."""
    from automations.services import AttachmentError, ingest_attachments, input_limits

    content = parse_email(path, input_limits())  # ExtractionError: the step fails with it
    try:
        skipped = ingest_attachments(
            run.document, [(a.filename, a.data) for a in content.attachments]
        )
    except AttachmentError as exc:
        raise StepFailed(str(exc)) from exc
    messages = [f"Attachment {r.filename} was skipped: {r.message}" for r in skipped]
    warnings = list(dict.fromkeys([*run.warnings, *messages]))
    if warnings != run.warnings:
        run.warnings = warnings
        run.save(update_fields=["warnings"])


def _fail_running_steps(run: Run, message: str) -> None:
    now = timezone.now()
    for step in run.steps.filter(status=StepRun.Status.RUNNING):
        step.status, step.error, step.finished_at = StepRun.Status.FAILED, message, now
        step.log = [*step.log, log_line("error", f"Failed: {message}")]
        step.save(update_fields=["status", "error", "finished_at", "log"])


def _finish(run: Run, status: str, error: str = "") -> None:
    """End a running run; one canceled meanwhile stays canceled."""
    changes = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == Run.Status.SUCCEEDED:
        changes["pages_done"] = run.pages_total
    if Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(**changes):
        for name, value in changes.items():
            setattr(run, name, value)


def _finish_succeeded(runs: list[Run]) -> None:
    """End runs that succeeded, in one query (one canceled meanwhile stays canceled)."""
    if not runs:
        return
    now = timezone.now()
    Run.objects.filter(pk__in=[run.pk for run in runs], status=Run.Status.RUNNING).update(
        status=Run.Status.SUCCEEDED, error="", finished_at=now, pages_done=F("pages_total")
    )
    for run in runs:
        run.status, run.error, run.finished_at = Run.Status.SUCCEEDED, "", now
        run.pages_done = run.pages_total


def recover_orphaned_runs(now=None) -> dict[str, list[int]]:
    """Queue again the runs whose worker was lost (running, heartbeat older than the lease
    and a margin), so that they resume after their last finished step; a run already
    started MAX_RUN_ATTEMPTS times is failed with a reason instead. Returns the ids, as
    {"requeued": [...], "failed": [...]}."""
    from automations.services import enqueue_run

    now = now or timezone.now()
    cutoff = now - _lease() - timedelta(seconds=ORPHAN_MARGIN)
    stale = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    result: dict[str, list[int]] = {"requeued": [], "failed": []}
    for run_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).first()
            if run is None or run.status != Run.Status.RUNNING:
                continue
            if (run.heartbeat_at or run.started_at or now) >= cutoff:
                continue  # it came back to life meanwhile
            if run.attempts >= MAX_RUN_ATTEMPTS:
                message = _lost_message(run)
                _fail_running_steps(run, message)
                _finish(run, Run.Status.FAILED, message)
                result["failed"].append(run.pk)
                continue
            Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, heartbeat_at=None)
            enqueue_run(run)
            result["requeued"].append(run.pk)
    if result["requeued"] or result["failed"]:
        log.warning("orphaned runs: %s", result)
    return result


def _lost_message(run: Run) -> str:
    step = run.steps.filter(status=StepRun.Status.RUNNING).order_by("position").first()
    where = f" during the step {step.step_id!r}" if step else ""
    return (
        f"This run was started {run.attempts} times and stopped each time before it "
        f"finished{where}: its worker was stopped, or it took longer than the "
        f"{settings.PYQ_RUN_TIME_LIMIT} s limit. Retry it; if it stops again, split the "
        "document into smaller files."
    )


def recover_runs(now=None) -> dict[str, list[int]]:
    """The beat's sweep: queue again the runs of lost workers (or fail them after
    MAX_RUN_ATTEMPTS), then fail what is still stuck past the run time limit."""
    result = recover_orphaned_runs(now)
    fail_stuck_runs(now)
    return result


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
