"""An export of runs in each format: CSV, XLSX (through the table of runs) and JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from automations.exports.runs import ExportRow, run_table
from automations.exports.sheets import table_to_csv, table_to_xlsx

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def to_csv(rows: list[ExportRow]) -> bytes:
    """UTF-8 with a BOM (so Excel reads accents right), CRLF line ends, formulas escaped."""
    header, body = run_table(rows)
    return table_to_csv(header, body)


def to_xlsx(rows: list[ExportRow]) -> bytes:
    """One sheet: bold frozen header, real dates and numbers, text never a formula."""
    header, body = run_table(rows)
    return table_to_xlsx(header, body, title="Runs")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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


def export(rows: list[ExportRow], fmt: str) -> tuple[bytes, str]:
    """The export's bytes and content type; ValueError for a format not in CONTENT_TYPES."""
    writers = {"csv": to_csv, "json": to_json, "xlsx": to_xlsx}
    key = (fmt or "").lower()
    if key not in writers:
        raise ValueError(f"Unknown export format '{fmt}'; use one of {', '.join(CONTENT_TYPES)}.")
    return writers[key](rows), CONTENT_TYPES[key]
