"""Exports of many runs' extracted fields: column order, CSV injection escaping, BOM/CRLF,
JSON round trip, XLSX read back with openpyxl."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from automations.exports import (
    CONTENT_TYPES,
    ExportRow,
    columns,
    export,
    to_csv,
    to_json,
    to_xlsx,
)

FINISHED = datetime(2025, 3, 14, 9, 30, 5, tzinfo=UTC)


def field(value, confidence=0.9, currency=None):
    found = {"value": value, "confidence": confidence, "evidence": {"page": 1, "box": None}}
    if currency is not None:
        found["currency"] = currency
    return found


def row(fields, document="facture.pdf", run_id=1, finished_at=FINISHED, status="succeeded"):
    return ExportRow(
        document=document,
        run_id=run_id,
        finished_at=finished_at,
        status=status,
        fields=list(fields.items()),
    )


def invoice_rows():
    return [
        row(
            {
                "vendor": field("Café Müller"),
                "total": field("-12.50", 0.8, "EUR"),
                "due_date": field("2025-04-01", 0.7),
            },
            document="Relevé été.pdf",
            run_id=7,
        ),
        row(
            {
                "vendor": field('=HYPERLINK("http://evil","x")', 0.6),
                "po_number": field("PO-1", 0.5),
                "tax": field("2.10", 0.4, None),
            },
            document="b.pdf",
            run_id=8,
            finished_at=None,
            status="failed",
        ),
    ]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_columns_merge_fields_in_first_seen_order():
    assert columns(invoice_rows()) == [
        "document",
        "run",
        "finished_at",
        "status",
        "vendor",
        "total",
        "total_currency",
        "due_date",
        "po_number",
        "tax",
        "vendor_confidence",
        "total_confidence",
        "due_date_confidence",
        "po_number_confidence",
        "tax_confidence",
    ]


def test_currency_column_only_when_some_row_has_one():
    rows = [row({"total": field("1.00")}), row({"total": field("2.00", currency="USD")})]
    assert columns(rows)[4:] == ["total", "total_currency", "total_confidence"]
    assert columns([row({"total": field("1.00")})])[4:] == ["total", "total_confidence"]


def test_columns_of_no_rows():
    assert columns([]) == ["document", "run", "finished_at", "status"]


def test_csv_escapes_formulas_but_keeps_plain_numbers():
    values = ["=SUM(A1)", "+1", "@cmd", "-1+2", "\t=x", "\r=x", "-12.50", "12.50", "-3", "a=b"]
    rows = [row({f"f{i}": field(v) for i, v in enumerate(values)})]
    cells = read_csv(to_csv(rows))[1][4 : 4 + len(values)]
    assert cells == [
        "'=SUM(A1)",
        "'+1",
        "'@cmd",
        "'-1+2",
        "'\t=x",
        "'\r=x",
        "-12.50",
        "12.50",
        "-3",
        "a=b",
    ]


def test_csv_escapes_document_names_too():
    data = read_csv(to_csv([row({}, document="=cmd|' /C calc'!A0.pdf")]))
    assert data[1][0] == "'=cmd|' /C calc'!A0.pdf"


def test_csv_has_bom_crlf_and_accents():
    data = to_csv(invoice_rows())
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert data.count(b"\r\n") == 3  # header and two rows
    assert b"\n" not in data.replace(b"\r\n", b"")
    table = read_csv(data)
    header = table[0]
    first = dict(zip(header, table[1], strict=True))
    second = dict(zip(header, table[2], strict=True))
    assert first["document"] == "Relevé été.pdf"
    assert first["vendor"] == "Café Müller"
    assert first["run"] == "7"
    assert first["finished_at"] == "2025-03-14T09:30:05+00:00"
    assert first["total"] == "-12.50"
    assert first["total_currency"] == "EUR"
    assert first["total_confidence"] == "0.8"
    assert first["po_number"] == ""  # field missing from this run
    assert second["finished_at"] == ""  # None
    assert second["vendor"] == '\'=HYPERLINK("http://evil","x")'
    assert second["total_currency"] == ""


def test_csv_none_value_is_empty():
    table = read_csv(to_csv([row({"total": field(None, 0.0)})]))
    assert table[1][4:] == ["", "0.0"]


def test_json_round_trip():
    data = to_json(invoice_rows())
    assert "Café Müller".encode() in data  # ensure_ascii=False
    loaded = json.loads(data.decode("utf-8"))
    assert loaded[0] == {
        "document": "Relevé été.pdf",
        "run": 7,
        "finished_at": "2025-03-14T09:30:05+00:00",
        "status": "succeeded",
        "fields": {
            "vendor": {"value": "Café Müller", "confidence": 0.9},
            "total": {"value": "-12.50", "confidence": 0.8, "currency": "EUR"},
            "due_date": {"value": "2025-04-01", "confidence": 0.7},
        },
    }
    assert datetime.fromisoformat(loaded[0]["finished_at"]) == FINISHED
    assert loaded[1]["finished_at"] is None
    assert list(loaded[1]["fields"]) == ["vendor", "po_number", "tax"]
    assert "evidence" not in loaded[1]["fields"]["vendor"]


def test_xlsx_read_back():
    sheet = load_workbook(io.BytesIO(to_xlsx(invoice_rows()))).active
    header = [cell.value for cell in sheet[1]]
    assert header == columns(invoice_rows())
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    first = dict(zip(header, sheet[2], strict=True))
    second = dict(zip(header, sheet[3], strict=True))
    assert first["document"].value == "Relevé été.pdf"
    assert first["run"].value == 7
    assert first["finished_at"].value == datetime(2025, 3, 14, 9, 30, 5)  # naive UTC
    assert first["total"].value == -12.5
    assert first["total"].data_type == "n"
    assert first["total_currency"].value == "EUR"
    assert first["total_confidence"].value == 0.8
    assert first["due_date"].value == datetime(2025, 4, 1)
    assert second["tax"].value == 2.1
    assert second["finished_at"].value is None
    hyperlink = second["vendor"]
    assert hyperlink.data_type == "s"
    assert hyperlink.value == '=HYPERLINK("http://evil","x")'  # literal text
    assert hyperlink.quotePrefix
    assert second["po_number"].value == "PO-1"
    assert sheet.column_dimensions["A"].width >= len("Relevé été.pdf")


def test_xlsx_aware_datetimes_become_naive_utc():
    paris = timezone(timedelta(hours=1))
    rows = [row({}, finished_at=datetime(2025, 1, 1, 10, 0, tzinfo=paris))]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows))).active
    assert sheet["C2"].value == datetime(2025, 1, 1, 9, 0)


def test_xlsx_keeps_leading_zeros_and_drops_control_characters():
    rows = [row({"phone": field("0612345678"), "note": field("a\x0cb"), "iban": field("+33 1")})]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows))).active
    assert sheet["E2"].value == "0612345678"
    assert sheet["F2"].value == "ab"
    assert sheet["G2"].value == "+33 1"
    assert sheet["G2"].data_type == "s"


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_export_returns_bytes_and_content_type(fmt):
    data, content_type = export(invoice_rows(), fmt)
    assert isinstance(data, bytes)
    assert data
    assert content_type == CONTENT_TYPES[fmt]


def test_export_unknown_format():
    with pytest.raises(ValueError, match="Unknown export format 'pdf'; use one of csv, json"):
        export(invoice_rows(), "pdf")
