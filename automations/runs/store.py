"""What a batch of runs writes: step rows through one BatchWriter, and the pages read.

Idempotent: each step's result is a StepRun row per (run, step); a redelivered task skips
the finished steps, and extract_text resumes after the last stored page.
"""

from __future__ import annotations

import io
from typing import Protocol

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from automations.engine.extract import PageResult
from automations.engine.fields import PageText
from automations.engine.pipeline import StepSpec, log_line
from automations.engine.steps import StepFailed, StepOutcome
from automations.models import Document, Page, Run, StepRun
from catalog.runtime.ocr import OcrLine


class CurrentStep(Protocol):
    """The run's services, told which step runs now (its artifacts are filed under it)."""

    current_step: str


def load_pages(document: Document) -> list[PageText]:
    return [page_text(page) for page in document.pages.all()]


def pages_of(document_ids: list[int]) -> dict[int, list[PageText]]:
    """The stored pages of several documents, in one query."""
    pages: dict[int, list[PageText]] = {}
    for page in Page.objects.filter(document__in=document_ids).order_by("document", "number"):
        pages.setdefault(page.document_id, []).append(page_text(page))
    return pages


def page_text(page: Page) -> PageText:
    return PageText(
        number=page.number,
        text=page.text,
        lines=[OcrLine(ln["text"], ln["confidence"], tuple(ln["box"])) for ln in page.lines],
        width=page.width,
        height=page.height,
    )


def page_fields(result: PageResult) -> dict:
    return {
        "text": result.text,
        "method": result.method,
        "ocr_confidence": result.confidence,
        "lines": [
            {"text": ln.text, "confidence": round(ln.confidence, 4), "box": list(ln.box)}
            for ln in result.lines
        ],
    }


def save_page(document: Document, result: PageResult, *, exists: bool = True) -> Page:
    fields = page_fields(result)
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
            for fields, rows in by_fields.items():
                _update_rows(StepRun, rows, fields)
            runs_by_fields: dict[tuple[str, ...], list[Run]] = {}
            for run, names in self.run_updates.values():
                runs_by_fields.setdefault(tuple(sorted(names)), []).append(run)
            for fields, runs in runs_by_fields.items():
                _update_rows(Run, runs, fields)
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

    def __init__(self, run: Run, services: CurrentStep, writer: BatchWriter | None = None) -> None:
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
