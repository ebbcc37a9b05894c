"""What a batch of runs writes to the database, gathered and sent together."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from automations.models import Page, Run, StepRun


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
