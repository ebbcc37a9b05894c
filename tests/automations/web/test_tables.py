"""Tables in the dashboard: the list, sorting, pagination, inline edits (members and up),
deletion, exports with formula escaping, and tenancy on every view."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from automations.models import DataTable, TableRow
from automations.web.tables import ROWS_PER_PAGE
from tests.automations.helpers import TABLE_ROWS, add_rows

HX = {"HTTP_HX_REQUEST": "true"}


def urls(table: DataTable) -> dict[str, str]:
    row = table.rows.first()
    return {
        "detail": reverse("automations:table", args=[table.pk]),
        "row": reverse("automations:table_row", args=[table.pk, row.pk]),
        "edit": reverse("automations:table_row_edit", args=[table.pk, row.pk]),
        "delete_row": reverse("automations:table_row_delete", args=[table.pk, row.pk]),
        "csv": reverse("automations:table_export", args=[table.pk, "csv"]),
        "xlsx": reverse("automations:table_export", args=[table.pk, "xlsx"]),
        "json": reverse("automations:table_export", args=[table.pk, "json"]),
        "delete": reverse("automations:table_delete", args=[table.pk]),
    }


def vendors_on_page(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        re.sub(r"&#x27;", "'", m)
        for m in re.findall(r'<tr id="row-\d+"[^>]*>\s*<td>([^<]*)</td>', body)
    ]


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_the_organizations_tables_with_row_counts(table, viewer, outsider):
    add_rows(outsider.org, [{"x": "1"}], name="Secret ledger")
    html = viewer.client.get(reverse("automations:tables")).content.decode()
    assert f'href="{reverse("automations:table", args=[table.pk])}">Expenses</a>' in html
    assert "<td>vendor, total, date</td>" in html
    assert "<td>5</td>" in html
    assert "Secret ledger" not in html
    assert 'aria-current="page">Tables</a>' in html


def test_the_list_without_tables_explains_how_to_make_one(viewer):
    html = viewer.client.get(reverse("automations:tables")).content.decode()
    assert "No tables yet." in html


# --- one table -------------------------------------------------------------------------------


def test_the_table_page_shows_rows_with_links_to_their_documents(table, viewer):
    response = viewer.client.get(urls(table)["detail"])
    html = response.content.decode()
    assert response.status_code == 200
    assert vendors_on_page(html) == [r["vendor"] for r in TABLE_ROWS]
    row = table.rows.first()
    assert reverse("automations:document", args=[row.document.uid]) in html
    assert f"run #{row.run_id}</a>" in html
    assert "5 rows" in html
    # the formula-looking value is shown as text, escaped
    assert "=cmd|&#x27; /C calc&#x27;!A0" in html
    # a viewer sees no edit or delete controls
    assert "Edit</a>" not in html
    assert "Delete table" not in html


def test_clicking_a_header_sorts_and_clicking_again_reverses(table, member):
    url = urls(table)["detail"]
    html = member.client.get(url, {"sort": "total"}).content.decode()
    assert vendors_on_page(html)[:3] == ["deli", "Bakery", "corner cafe"]
    assert '<th scope="col" aria-sort="ascending"><a href="?sort=total&amp;dir=desc">total' in html
    assert '<th scope="col" aria-sort="none"><a href="?sort=date">date</a></th>' in html
    html = member.client.get(url, {"sort": "total", "dir": "desc"}).content.decode()
    assert vendors_on_page(html)[0] == "=cmd|' /C calc'!A0"
    assert vendors_on_page(html)[-1] == "Átomo"  # empty last
    assert '<a href="?sort=total">total' in html
    assert "Edit</a>" in html
    assert "Delete table" not in html  # only owners and admins delete a whole table


def test_owners_see_the_delete_button_members_do_not(table, owner, member):
    assert "Delete table" in owner.client.get(urls(table)["detail"]).content.decode()
    assert "Delete table" not in member.client.get(urls(table)["detail"]).content.decode()


def test_long_tables_are_paginated_keeping_the_sort(org, member):
    table = add_rows(org, [{"n": str(i)} for i in range(52)], name="Many")
    url = urls(table)["detail"]
    html = member.client.get(url, {"sort": "n", "dir": "desc"}).content.decode()
    assert len(re.findall(r'<tr id="row-', html)) == ROWS_PER_PAGE
    assert 'href="?sort=n&amp;dir=desc&amp;page=2">Next' in html
    html = member.client.get(url, {"sort": "n", "dir": "desc", "page": 2}).content.decode()
    assert vendors_on_page(html) == ["1", "0"]


# --- editing -------------------------------------------------------------------------------


def test_a_member_edits_a_row_inline(table, member):
    row = table.rows.first()
    u = urls(table)
    # The edit button swaps the row for a form with one input per column
    form = member.client.get(u["edit"], {"back": "sort=total"}, **HX).content.decode()
    assert form.startswith(f'<tr id="row-{row.pk}" class="editing">')
    assert f'form="row-form-{row.pk}"' in form
    assert f'name="r{row.pk}-c1"' in form
    assert 'value="10"' in form
    assert 'name="back" value="sort=total"' in form
    # Saving puts the row back, changed, and records who changed it
    data = {f"r{row.pk}-c0": "Corner Café", f"r{row.pk}-c1": "10.50", f"r{row.pk}-c2": ""}
    response = member.client.post(u["edit"], {**data, "back": "sort=total"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<tr id="row-{row.pk}" class="saved">')
    assert "<td>Corner Café</td><td>10.50</td><td>" in html
    assert f"edited by {member.user.email}" in html
    row.refresh_from_db()
    assert row.values == {"vendor": "Corner Café", "total": "10.50", "date": None}
    assert row.updated_by == member.user


def test_without_scripts_the_edit_is_a_page_and_saving_returns_to_the_table(table, member):
    row = table.rows.first()
    u = urls(table)
    page = member.client.get(u["edit"], {"back": "sort=total&dir=desc&page=1"})
    assert page.status_code == 200
    assert f'<form id="row-form-{row.pk}" method="post"' in page.content.decode()
    data = {f"r{row.pk}-c0": "X", f"r{row.pk}-c1": "1", f"r{row.pk}-c2": "2026-01-01"}
    response = member.client.post(u["edit"], {**data, "back": "sort=total&dir=desc&page=1"})
    assert response.status_code == 302
    assert response.url == f"{u['detail']}?sort=total&dir=desc&page=1"
    row.refresh_from_db()
    assert row.values == {"vendor": "X", "total": "1", "date": "2026-01-01"}


def test_a_value_too_long_is_refused_next_to_its_field(table, member):
    row = table.rows.first()
    data = {f"r{row.pk}-c0": "x" * 10_001, f"r{row.pk}-c1": "1", f"r{row.pk}-c2": ""}
    response = member.client.post(urls(table)["edit"], data, **HX)
    assert response.status_code == 400
    assert "Ensure this value has at most 10000 characters" in response.content.decode()
    row.refresh_from_db()
    assert row.values == TABLE_ROWS[0]
    assert row.updated_by is None


def test_cancel_puts_the_row_back(table, member):
    row = table.rows.first()
    html = member.client.get(urls(table)["row"], **HX).content.decode()
    assert html.startswith(f'<tr id="row-{row.pk}">')
    assert member.client.get(urls(table)["row"]).status_code == 302


def test_a_member_deletes_a_row_but_not_the_table(table, member):
    u = urls(table)
    response = member.client.post(u["delete_row"], **HX)
    assert (response.status_code, response.content) == (200, b"")
    assert table.rows.count() == 4
    assert member.client.post(u["delete"]).status_code == 403
    assert table.rows.count() == 4
    assert DataTable.objects.filter(pk=table.pk).exists()


def test_an_owner_deletes_a_table_with_its_rows(table, owner):
    u = urls(table)
    response = owner.client.post(u["delete"])
    assert response.status_code == 302
    assert response.url == reverse("automations:tables")
    assert not DataTable.objects.filter(pk=table.pk).exists()
    assert not TableRow.objects.exists()


def test_a_viewer_cannot_change_anything(table, viewer):
    row = table.rows.first()
    u = urls(table)
    data = {f"r{row.pk}-c0": "changed", f"r{row.pk}-c1": "", f"r{row.pk}-c2": ""}
    assert viewer.client.get(u["edit"], **HX).status_code == 403
    assert viewer.client.post(u["edit"], data, **HX).status_code == 403
    assert viewer.client.post(u["delete_row"], **HX).status_code == 403
    assert viewer.client.post(u["delete"]).status_code == 403
    row.refresh_from_db()
    assert (row.values, row.updated_by) == (TABLE_ROWS[0], None)
    assert table.rows.count() == 5
    assert DataTable.objects.filter(pk=table.pk).exists()
    # viewing and downloading stay allowed
    assert viewer.client.get(u["detail"]).status_code == 200
    assert viewer.client.get(u["row"], **HX).status_code == 200
    assert viewer.client.get(u["csv"]).status_code == 200


@pytest.mark.parametrize(
    "name", ["detail", "row", "edit", "delete_row", "csv", "xlsx", "json", "delete"]
)
def test_another_organizations_table_is_not_found(table, outsider, name):
    url = urls(table)[name]
    if name in ("delete_row", "delete"):
        response = outsider.client.post(url, **HX)
    else:
        response = outsider.client.get(url, **HX)
    assert response.status_code == 404
    assert table.rows.count() == 5
    assert DataTable.objects.filter(pk=table.pk).exists()


def test_a_row_of_another_table_is_not_found_through_this_one(table, org, member):
    other = add_rows(org, [{"a": "1"}], name="Other")
    foreign = other.rows.get()
    url = reverse("automations:table_row_edit", args=[table.pk, foreign.pk])
    assert member.client.get(url, **HX).status_code == 404


@pytest.mark.parametrize("name", ["detail", "csv"])
def test_anonymous_is_sent_to_login(client, table, name):
    response = client.get(urls(table)[name])
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


# --- exports -------------------------------------------------------------------------------


def test_csv_export_escapes_formulas_and_keeps_the_sort(table, viewer):
    response = viewer.client.get(urls(table)["csv"], {"sort": "total", "dir": "desc"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Expenses.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["vendor", "total", "date", "document", "run", "added at"]
    assert [r[:3] for r in rows[1:]] == [
        ["'=cmd|' /C calc'!A0", "1,234.50", ""],
        ["corner cafe", "10", "2026-03-14"],
        ["Bakery", "9.50", "2025-12-01"],
        ["deli", "-3", "2026-01-05"],
        ["Átomo", "", "2026-01-05T10:00:00"],
    ]
    first = table.rows.get(values__vendor="=cmd|' /C calc'!A0")
    assert rows[1][3:5] == [first.document.original_name, str(first.run_id)]


def test_xlsx_export_has_numbers_dates_and_formulas_as_text(table, viewer):
    response = viewer.client.get(urls(table)["xlsx"])
    assert response["Content-Disposition"] == 'attachment; filename="Expenses.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Expenses"
    values = [[cell.value for cell in row] for row in sheet.iter_rows(max_col=3)]
    assert values[0] == ["vendor", "total", "date"]
    assert values[1][1] == 10
    assert values[2][1] == 9.5
    assert values[1][2].date().isoformat() == "2026-03-14"
    formula = sheet.cell(row=4, column=1)
    assert (formula.value, formula.data_type) == ("=cmd|' /C calc'!A0", "s")


def test_json_export_lists_rows_with_their_values_in_column_order(table, viewer):
    response = viewer.client.get(urls(table)["json"])
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert (data["table"], data["columns"]) == ("Expenses", ["vendor", "total", "date"])
    assert [list(r["values"].values()) for r in data["rows"]][:2] == [
        ["corner cafe", "10", "2026-03-14"],
        ["Bakery", "9.50", "2025-12-01"],
    ]
    assert set(data["rows"][0]) == {"id", "values", "document", "run", "added_at", "updated_at"}


def test_an_unknown_export_format_is_not_found(table, viewer):
    url = reverse("automations:table_export", args=[table.pk, "pdf"])
    assert viewer.client.get(url).status_code == 404


def test_a_column_added_while_a_row_is_edited_keeps_its_value(table, member):
    # Given a row being edited when the table step adds a "tax" column with a value
    row = table.rows.first()
    table.columns = [*table.columns, "tax"]
    table.save()
    TableRow.objects.filter(pk=row.pk).update(values={**TABLE_ROWS[0], "tax": "1.80"})
    # When the form, opened before, is saved with the three columns it knew
    data = {f"r{row.pk}-c0": "Cafe", f"r{row.pk}-c1": "10", f"r{row.pk}-c2": ""}
    member.client.post(urls(table)["edit"], data, **HX)
    # Then the new column kept its value
    row.refresh_from_db()
    assert row.values == {"vendor": "Cafe", "total": "10", "date": None, "tax": "1.80"}
