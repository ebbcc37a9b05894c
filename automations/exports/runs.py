"""Runs as a table: one row per run, its columns first, then each field's value, currency
and confidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

BASE_COLUMNS = ("document", "run", "finished_at", "status")


@dataclass
class ExportRow:
    document: str
    run_id: int
    finished_at: datetime | None
    status: str
    fields: list[tuple[str, dict]]


@dataclass(frozen=True)
class _Column:
    header: str
    kind: str  # "document", "run", "finished_at", "status", "value", "currency", "confidence"
    field: str = ""


def _layout(rows: list[ExportRow]) -> list[_Column]:
    names: list[str] = []
    with_currency: set[str] = set()
    for row in rows:
        for name, found in row.fields:
            if name not in names:
                names.append(name)
            if (found or {}).get("currency"):
                with_currency.add(name)
    layout = [_Column(kind, kind) for kind in BASE_COLUMNS]
    for name in names:
        layout.append(_Column(name, "value", name))
        if name in with_currency:
            layout.append(_Column(f"{name}_currency", "currency", name))
    layout += [_Column(f"{name}_confidence", "confidence", name) for name in names]
    return layout


def columns(rows: list[ExportRow]) -> list[str]:
    """Header: the run's columns, each field (then its currency, for money fields that
    have one in any row) in first-seen order, then each field's confidence."""
    return [column.header for column in _layout(rows)]


def _cell(row: ExportRow, column: _Column, fields: dict[str, dict]):
    """The raw value of one cell (None when empty)."""
    if column.kind == "document":
        return row.document
    if column.kind == "run":
        return row.run_id
    if column.kind == "finished_at":
        return row.finished_at
    if column.kind == "status":
        return row.status
    found = fields.get(column.field) or {}
    if column.kind == "value":
        return found.get("value")
    return found.get(column.kind)  # "currency" or "confidence"


def run_table(rows: list[ExportRow]) -> tuple[list[str], list[list]]:
    """The header (as :func:`columns` gives it) and one list of raw cell values per run."""
    layout = _layout(rows)
    body = []
    for row in rows:
        fields = {name: found or {} for name, found in row.fields}
        body.append([_cell(row, column, fields) for column in layout])
    return [column.header for column in layout], body
