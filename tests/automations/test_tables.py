"""Tables' service (automations/tables.py): sorting by value type, numbers as people write
them, idempotent rows per run and step, edits that record who and when, export columns."""

from __future__ import annotations

import csv
import io

import pytest

from automations import tables
from automations.models import DataTable
from tests.automations.helpers import add_rows, make_document


@pytest.mark.parametrize(
    ("column", "descending", "expected"),
    [
        (None, False, ["corner cafe", "Bakery", "=cmd|' /C calc'!A0", "Átomo", "deli"]),
        (None, True, ["deli", "Átomo", "=cmd|' /C calc'!A0", "Bakery", "corner cafe"]),
        # numbers as numbers ("1,234.50" is 1234.5), empty last either way
        ("total", False, ["deli", "Bakery", "corner cafe", "=cmd|' /C calc'!A0", "Átomo"]),
        ("total", True, ["=cmd|' /C calc'!A0", "corner cafe", "Bakery", "deli", "Átomo"]),
        # dates as dates (a date and a time on the same day: the date first)
        ("date", False, ["Bakery", "deli", "Átomo", "corner cafe", "=cmd|' /C calc'!A0"]),
        ("date", True, ["corner cafe", "Átomo", "deli", "Bakery", "=cmd|' /C calc'!A0"]),
        # text without regard to case
        ("vendor", False, ["=cmd|' /C calc'!A0", "Bakery", "corner cafe", "deli", "Átomo"]),
        ("unknown", False, ["corner cafe", "Bakery", "=cmd|' /C calc'!A0", "Átomo", "deli"]),
    ],
)
def test_rows_sort_by_the_type_of_their_values(table, column, descending, expected) -> None:
    rows = tables.sorted_rows(table, column, descending)
    assert [row.values["vendor"] for row in rows] == expected


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("7.75", 7.75),
        ("-3", -3.0),
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("12,50", 12.5),
        ("€ 7.75", 7.75),
        ("1 234", 1234.0),
        ("0612345678", 612345678.0),
        ("12 apples", None),
        ("1,2,3", None),
        ("", None),
    ],
)
def test_numbers_are_read_as_people_write_them(text, number) -> None:
    assert tables.as_number(text) == number


def test_mixed_columns_put_numbers_then_dates_then_text() -> None:
    values = ["b", "2026-01-01", "10", "A", "2", "2025-05-05"]
    assert sorted(values, key=tables.sort_key) == ["2", "10", "2025-05-05", "2026-01-01", "A", "b"]


def test_append_row_is_idempotent_per_run_and_step(org) -> None:
    document = make_document(org, "r.txt", b"r")
    run = document.runs.get()
    first = tables.append_row(run, "add", "Expenses", {"total": "1"})
    again = tables.append_row(run, "add", "Expenses", {"total": "2", "new": "x"})
    other = tables.append_row(run, "add2", "Expenses", {"total": "3"})
    assert again.pk == first.pk
    assert again.values == {"total": "1"}
    assert other.pk != first.pk
    assert DataTable.objects.get().columns == ["total"]


def test_update_row_records_who_and_when(table, member) -> None:
    row = table.rows.first()
    before = row.updated_at
    tables.update_row(row, {"total": " 11.00 ", "date": "", "not a column": "x"}, member.user)
    row.refresh_from_db()
    assert row.values == {"vendor": "corner cafe", "total": " 11.00 ", "date": None}
    assert row.updated_by == member.user
    assert row.updated_at > before


def test_meta_columns_never_hide_a_column_of_the_same_name(org):
    table = add_rows(org, [{"document": "mine", "run": "7"}], name="Clash")
    data, _ = tables.export(table, "csv")
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header == ["document", "run", "document (Pyq)", "run (Pyq)", "added at"]
