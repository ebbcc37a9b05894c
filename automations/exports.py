"""Export the extracted fields of many runs as CSV, XLSX or JSON.

Pure Python (no Django): the caller turns each run into an :class:`ExportRow` (its fields
as ``catalog.presentation.ordered_fields`` returns them) and picks a format with
:func:`export`, which returns the file's bytes and its content type.

Spreadsheet safety: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be run as a formula by Excel or LibreOffice (CSV injection, see
OWASP). CSV cells like that get a leading single quote; a plain decimal number such as
``-12.50`` (what Pyq's money normalisation gives) is left alone. In XLSX those cells are
stored as text (never as formulas) with Excel's "quote prefix" style, so Excel shows the
text as it is and keeps it text when the cell is edited.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

__all__ = [
    "CONTENT_TYPES",
    "ExportRow",
    "columns",
    "export",
    "table_to_csv",
    "table_to_xlsx",
    "to_csv",
    "to_json",
    "to_xlsx",
]

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

BASE_COLUMNS = ("document", "run", "finished_at", "status")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Numbers stored as numbers in XLSX: no leading zero (phone numbers, postcodes and
# account numbers like "0612345678" stay text) and no more digits than a double keeps.
_XLSX_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
_XLSX_MAX_DIGITS = 15
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_XLSX_MAX_CELL = 32767


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


def _table(rows: list[ExportRow]) -> tuple[list[_Column], list[list]]:
    layout = _layout(rows)
    body = []
    for row in rows:
        fields = {name: found or {} for name, found in row.fields}
        body.append([_cell(row, column, fields) for column in layout])
    return layout, body


def _is_dangerous(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text)


def _escape(text: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula."""
    return "'" + text if _is_dangerous(text) else text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: list[ExportRow]) -> bytes:
    """UTF-8 with a BOM (so Excel reads accents right), CRLF line ends, formulas escaped."""
    layout, body = _table(rows)
    return table_to_csv([column.header for column in layout], body)


def table_to_csv(header: list[str], body: list[list]) -> bytes:
    """Any table as CSV the way :func:`to_csv` writes it (BOM, CRLF, formulas escaped)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_escape(str(name)) for name in header])
    for values in body:
        writer.writerow([_escape(_text(value)) for value in values])
    return out.getvalue().encode("utf-8-sig")


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(rows: list[ExportRow]) -> bytes:
    """[{"document", "run", "finished_at" (ISO 8601), "status", "fields": {name: {"value",
    "confidence", "currency"?}}}] as UTF-8 (evidence is left out)."""
    data = []
    for row in rows:
        fields = {}
        for name, found in row.fields:
            found = found or {}
            entry = {"value": found.get("value"), "confidence": found.get("confidence")}
            if found.get("currency") is not None:
                entry["currency"] = found["currency"]
            fields[name] = entry
        data.append(
            {
                "document": row.document,
                "run": row.run_id,
                "finished_at": _iso(row.finished_at),
                "status": row.status,
                "fields": fields,
            }
        )
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8")


def _naive_utc(value: datetime) -> datetime:
    """Excel has no time zones: aware datetimes become naive UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _xlsx_number(value: str) -> float | None:
    if not _XLSX_NUMBER.match(value) or sum(c.isdigit() for c in value) > _XLSX_MAX_DIGITS:
        return None
    try:
        return float(Decimal(value))
    except (InvalidOperation, ValueError):
        return None


def _xlsx_value(value):
    """The value to store and its number format (None for the default)."""
    if value is None or isinstance(value, bool | int | float):
        return value, None
    if isinstance(value, Decimal):
        return float(value), None
    if isinstance(value, datetime):
        return _naive_utc(value), "yyyy-mm-dd hh:mm:ss"
    if isinstance(value, date):
        return value, "yyyy-mm-dd"
    text = str(value)
    number = _xlsx_number(text)
    if number is not None:
        return number, None
    if _ISO_DATE.match(text):
        try:
            return date.fromisoformat(text), "yyyy-mm-dd"
        except ValueError:
            pass
    return text, None


def _display_width(value) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def to_xlsx(rows: list[ExportRow]) -> bytes:
    """One sheet: bold frozen header, real dates and numbers, text never a formula."""
    layout, body = _table(rows)
    return table_to_xlsx([column.header for column in layout], body, title="Runs")


_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def table_to_xlsx(header: list[str], body: list[list], title: str = "Sheet") -> bytes:
    """Any table as XLSX the way :func:`to_xlsx` writes it, on a sheet called ``title``."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = _SHEET_TITLE_BAD.sub(" ", title).strip()[:31] or "Sheet"
    widths = [len(str(name)) for name in header]
    bold = Font(bold=True)
    for index, name in enumerate(header, start=1):
        cell = sheet.cell(row=1, column=index)
        _set_text(cell, str(name))
        cell.font = bold
    for row_index, values in enumerate(body, start=2):
        for index, raw in enumerate(values, start=1):
            value, number_format = _xlsx_value(raw)
            cell = sheet.cell(row=row_index, column=index)
            if isinstance(value, str):
                _set_text(cell, value)
            else:
                cell.value = value
            if number_format:
                cell.number_format = number_format
            widths[index - 1] = max(widths[index - 1], _display_width(value))
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _set_text(cell, text: str) -> None:
    """Store ``text`` as a string even when it looks like a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Control characters (a PDF's form feed...) are not allowed in XLSX; Excel caps a cell.
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:_XLSX_MAX_CELL]
    cell.value = text
    if cell.data_type != "s":  # openpyxl makes "=..." a formula
        cell.data_type = "s"
    if _is_dangerous(text):
        cell.quotePrefix = True  # Excel shows the text as is and keeps it text on edit


def export(rows: list[ExportRow], fmt: str) -> tuple[bytes, str]:
    """The export's bytes and content type; ValueError for a format not in CONTENT_TYPES."""
    writers = {"csv": to_csv, "json": to_json, "xlsx": to_xlsx}
    key = (fmt or "").lower()
    if key not in writers:
        raise ValueError(f"Unknown export format '{fmt}'; use one of {', '.join(CONTENT_TYPES)}.")
    return writers[key](rows), CONTENT_TYPES[key]
