"""Tables an organization keeps in the dashboard: rows the table step appends, that people
sort, edit and export. What the views and the worker call; nothing here knows about HTTP.

Values are text (or None for an empty cell). Sorting looks at each value: numbers
("1,234.50", "-3") sort as numbers, ISO dates and times as dates, the rest as text without
regard to case; within one column numbers come first, then dates, then text, and empty
cells always last, whichever the direction.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from automations import exports
from automations.engine.steps import StepFailed
from automations.models import DataTable, Run, TableRow

MAX_COLUMNS = 200
MAX_CELL = 10_000
FORMATS = ("csv", "xlsx", "json")
META_COLUMNS = ("document", "run", "added at")

_PLAIN = re.compile(r"^[-+]?\d+(\.\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")  # 1,234.50
_DOT_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")  # 1.234,50
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")  # 12,50
_CURRENCY = "€$£¥₹"
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


# --- the worker's side ----------------------------------------------------------------------


def append_row(run: Run, step_id: str, table_name: str, values: dict[str, str | None]) -> TableRow:
    """Add the run's row to the organization's table called ``table_name`` (found without
    regard to case, created the first time); new columns go after the existing ones.
    Once per (table, run, step): a repeated call returns the row added before, unchanged
    (people may have edited it)."""
    name = " ".join(table_name.split())[:120]
    with transaction.atomic():
        table = _table_named(run.organization_id, name)
        table = DataTable.objects.select_for_update().get(pk=table.pk)
        existing = TableRow.objects.filter(table=table, run=run, step_id=step_id).first()
        if existing is not None:
            return existing
        new = [column for column in values if column not in table.columns]
        if len(table.columns) + len(new) > MAX_COLUMNS:
            raise StepFailed(
                f"The table {table.name} would have more than {MAX_COLUMNS} columns; "
                "choose the columns in the step."
            )
        if new:
            table.columns = [*table.columns, *new]
            table.save(update_fields=["columns"])
        row, _ = TableRow.objects.get_or_create(
            table=table,
            run=run,
            step_id=step_id,
            defaults={
                "organization_id": run.organization_id,
                "document_id": run.document_id,
                "values": {column: _clean(value) for column, value in values.items()},
            },
        )
    return row


def _table_named(organization_id: int, name: str) -> DataTable:
    table = (
        DataTable.objects.filter(organization_id=organization_id, name__iexact=name)
        .order_by("pk")
        .first()
    )
    if table is None:
        table, _ = DataTable.objects.get_or_create(organization_id=organization_id, name=name)
    return table


# --- people's side ----------------------------------------------------------------------------


def update_row(row: TableRow, values: dict[str, str | None], user) -> TableRow:
    """Set the cells of the table's columns given in ``values`` ("" empties a cell)."""
    changed = dict(row.values)
    for column in row.table.columns:
        if column in values:
            changed[column] = _clean(values[column])
    row.values = changed
    row.updated_by = user
    row.updated_at = timezone.now()
    row.save(update_fields=["values", "updated_by", "updated_at"])
    return row


def delete_row(row: TableRow) -> None:
    row.delete()


def sorted_rows(table: DataTable, column: str | None = None, descending: bool = False) -> list:
    """The table's rows, by ``column`` (see the module's docstring), or in the order they
    were added when ``column`` is not one of the table's columns."""
    rows = list(
        TableRow.objects.filter(table=table).select_related("document", "run", "updated_by")
    )
    if not column or column not in table.columns:
        rows.sort(key=lambda row: (row.created_at, row.pk), reverse=descending)
        return rows
    filled = [row for row in rows if not _is_empty(row.values.get(column))]
    empty = [row for row in rows if _is_empty(row.values.get(column))]
    filled.sort(
        key=lambda row: (sort_key(row.values[column]), row.created_at, row.pk), reverse=descending
    )
    empty.sort(key=lambda row: (row.created_at, row.pk))
    return filled + empty


def sort_key(value) -> tuple:
    """(0, number), (1, datetime) or (2, text) for a non-empty cell."""
    text = str(value).strip()
    number = as_number(text)
    if number is not None:
        return (0, number)
    moment = as_datetime(text)
    if moment is not None:
        return (1, moment)
    return (2, text.casefold())


def as_number(text: str) -> float | None:
    """Numbers as people write them ("1,234.50", "1.234,50", "12,50", "€ 7.75"), else None."""
    compact = "".join(text.split()).strip(_CURRENCY)
    if _PLAIN.match(compact):
        return float(compact)
    if _COMMA_THOUSANDS.match(compact):
        return float(compact.replace(",", ""))
    if _DOT_THOUSANDS.match(compact):
        return float(compact.replace(".", "").replace(",", "."))
    if _DECIMAL_COMMA.match(compact):
        return float(compact.replace(",", "."))
    return None


def as_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or date and time (as naive UTC), else None."""
    if not _ISO_DATE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def export(table: DataTable, fmt: str, rows: list[TableRow] | None = None) -> tuple[bytes, str]:
    """The table as CSV, XLSX or JSON: its columns, then each row's document, run and when
    it was added. Spreadsheet formulas are escaped (automations/exports/sheets.py)."""
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format '{fmt}'; use one of {', '.join(FORMATS)}.")
    rows = sorted_rows(table) if rows is None else rows
    if fmt == "json":
        return _json(table, rows), exports.CONTENT_TYPES["json"]
    header = [*table.columns, *_meta_headers(table.columns)]
    body = [
        [
            *(row.values.get(column) for column in table.columns),
            row.document.original_name if row.document else None,
            row.run_id,
            row.created_at,
        ]
        for row in rows
    ]
    if fmt == "csv":
        return exports.table_to_csv(header, body), exports.CONTENT_TYPES["csv"]
    return exports.table_to_xlsx(header, body, title=table.name), exports.CONTENT_TYPES["xlsx"]


def _meta_headers(columns: list[str]) -> list[str]:
    taken = set(columns)
    headers = []
    for name in META_COLUMNS:
        header = name
        while header in taken:
            header = f"{header} (Pyq)"
        headers.append(header)
    return headers


def _json(table: DataTable, rows: list[TableRow]) -> bytes:
    data = {
        "table": table.name,
        "columns": table.columns,
        "rows": [
            {
                "id": row.pk,
                "values": {column: row.values.get(column) for column in table.columns},
                "document": row.document.original_name if row.document else None,
                "run": row.run_id,
                "added_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            }
            for row in rows
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def export_filename(table: DataTable, fmt: str) -> str:
    stem = re.sub(r"[^\w.-]+", "-", table.name).strip(".-")[:80] or "table"
    return f"{stem}.{fmt}"


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value)[:MAX_CELL]
    return text if text.strip() else None


def _is_empty(value) -> bool:
    return value is None or not str(value).strip()
