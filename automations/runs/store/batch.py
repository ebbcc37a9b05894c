"""What a batch of runs writes to the database, gathered and sent together."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from automations.models import Page, Run, StepRun
from automations.runs.faults import BATCH_ERRORS, fault

log = logging.getLogger(__name__)


class BatchWriter:
    """The database writes of one batch of runs, gathered and sent together.

    The engine calls each store's `flush()` where the state must be visible (before a step
    runs, before a pause between attempts, after the step): the step rows of the whole
    batch are then created, updated and their runs' heartbeats refreshed in one
    transaction, a few queries for 32 documents rather than a few per document. Whether a
    run was canceled is read once per step for the batch.

    When that transaction fails for something other than the database itself (a value one
    document's step produced that the database refuses), the writes are sent again run by
    run: the runs whose writes fail go into `broken` with the reason, their later writes
    are dropped, and the other runs' are kept.
    """

    def __init__(self, runs: list[Run]) -> None:
        self.run_ids = [run.pk for run in runs]
        self.creates: list[StepRun] = []
        self.pages: list[tuple[int, Page]] = []  # (run id, text page) of documents read here
        self.updates: dict[int, tuple[StepRun, set[str]]] = {}  # id(row) -> row, fields
        self.run_updates: dict[int, tuple[Run, set[str]]] = {}
        self.beat: set[int] = set()
        self.broken: dict[int, str] = {}  # run id -> why its writes could not be made
        self._canceled: tuple[int, set[int]] | None = None  # (position, run ids)

    def canceled(self, run_id: int, position: int) -> bool:
        if self._canceled is None or self._canceled[0] != position:
            ids = Run.objects.filter(pk__in=self.run_ids, status=Run.Status.CANCELED)
            self._canceled = (position, set(ids.values_list("pk", flat=True)))
        return run_id in self._canceled[1]

    def create(self, row: StepRun) -> None:
        self.creates.append(row)

    def add_page(self, run: Run, page: Page) -> None:
        self.pages.append((run.pk, page))

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
        runs = self._pending() - set(self.broken)
        if not runs:
            self._clear()
            return
        try:
            self._send(runs)
        except BATCH_ERRORS:
            raise
        except Exception:
            log.warning("the writes of runs %s failed together; run by run", sorted(runs))
            for run_id in sorted(runs):
                self._send_alone(run_id)
        self._clear()

    def _pending(self) -> set[int]:
        """The runs with writes gathered."""
        return (
            {run_id for run_id, _ in self.pages}
            | {row.run_id for row in self.creates}
            | {row.run_id for row, _ in self.updates.values()}
            | set(self.run_updates)
            | self.beat
        )

    def _send_alone(self, run_id: int) -> None:
        for row in self.creates:
            if row.run_id == run_id:
                row.pk = None  # its insert may have been rolled back with the batch's
        for owner, page in self.pages:
            if owner == run_id:
                page.pk = None
        try:
            self._send({run_id})
        except BATCH_ERRORS:
            raise
        except Exception as exc:
            log.exception("the writes of run %s failed", run_id)
            self.broken[run_id] = fault("saving this document's results", exc)

    def _send(self, runs: set[int]) -> None:
        """Write what is gathered for these runs, in one transaction."""
        with transaction.atomic():
            pages = [page for run_id, page in self.pages if run_id in runs]
            if pages:
                Page.objects.bulk_create(pages)
            creates = [row for row in self.creates if row.run_id in runs]
            if creates:
                StepRun.objects.bulk_create(creates)
            _update_by_fields(StepRun, [u for u in self.updates.values() if u[0].run_id in runs])
            _update_by_fields(Run, [u for u in self.run_updates.values() if u[0].pk in runs])
            if self.beat & runs:
                Run.objects.filter(pk__in=self.beat & runs).update(heartbeat_at=timezone.now())

    def _clear(self) -> None:
        self.creates, self.pages, self.updates, self.run_updates = [], [], {}, {}
        self.beat = set()


def _update_by_fields(model, changes: list) -> None:
    """UPDATE rows, one statement for each set of changed fields ((row, field names) pairs)."""
    by_fields: dict[tuple[str, ...], list] = {}
    for row, names in changes:
        by_fields.setdefault(tuple(sorted(names)), []).append(row)
    for fields, rows in by_fields.items():
        _update_rows(model, rows, fields)


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
