"""Any table as a spreadsheet file (CSV or XLSX), never with a cell a spreadsheet runs.

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
run as a formula (CSV injection): in CSV it gets a leading single quote, in XLSX it is
stored as text with Excel's "quote prefix" style. A plain decimal number such as ``-12.50``
is left alone.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Numbers stored as numbers in XLSX: no leading zero (phone numbers, postcodes and
# account numbers like "0612345678" stay text) and no more digits than a double keeps.
_XLSX_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
_XLSX_MAX_DIGITS = 15
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_XLSX_MAX_CELL = 32767


def _is_dangerous(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text)


def _escape(text: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula."""
    return "'" + text if _is_dangerous(text) else text


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_to_csv(header: list[str], body: list[list]) -> bytes:
    """Any table as CSV: UTF-8 with a BOM (so Excel reads accents right), CRLF line ends,
    formulas escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_escape(str(name)) for name in header])
    for values in body:
        writer.writerow([_escape(_text(value)) for value in values])
    return out.getvalue().encode("utf-8-sig")


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


_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def table_to_xlsx(header: list[str], body: list[list], title: str = "Sheet") -> bytes:
    """Any table as XLSX on a sheet called ``title``: bold frozen header, real dates and
    numbers, text never a formula."""
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
