"""Export the extracted fields of many runs as CSV, XLSX or JSON.

Pure Python (no Django): the caller turns each run into an :class:`ExportRow` (its fields
as ``automations.engine.fields.order.ordered_fields`` returns them) and picks a format with
:func:`export`, which returns the file's bytes and its content type.

Spreadsheet safety: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be run as a formula by Excel or LibreOffice (CSV injection, see
OWASP). CSV cells like that get a leading single quote; a plain decimal number such as
``-12.50`` (what Pyq's money normalisation gives) is left alone. In XLSX those cells are
stored as text (never as formulas) with Excel's "quote prefix" style, so Excel shows the
text as it is and keeps it text when the cell is edited.

``runs`` lays runs out as a table, ``sheets`` writes any table as CSV or XLSX with those
rules, ``formats`` makes each format of an export.
"""

from automations.exports.formats import CONTENT_TYPES, export, to_csv, to_json, to_xlsx
from automations.exports.runs import ExportRow, columns
from automations.exports.sheets import table_to_csv, table_to_xlsx

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
