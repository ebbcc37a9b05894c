"""Tables in the dashboard: the list, one table sorted and paginated, inline row edits
(htmx, with a plain form page when scripts are off), row deletion and exports.

Everyone in the organization views; members and up ("write") edit and delete rows; only
owners and admins delete a whole table (with all its rows and their history). Another
organization's table or row is a 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_member
from automations import tables
from automations.models import DataTable, TableRow
from automations.web.forms import RowForm
from automations.web.workflows import can_manage

ROWS_PER_PAGE = 50


def _table(request, pk: int) -> DataTable:
    return get_object_or_404(DataTable.objects.for_org(request.org), pk=pk)


def _row(request, pk: int, row: int) -> TableRow:
    table = _table(request, pk)
    found = get_object_or_404(
        TableRow.objects.for_org(request.org).select_related("document", "updated_by"),
        table=table,
        pk=row,
    )
    found.table = table
    return found


def _sorting(request, table: DataTable) -> tuple[str, bool]:
    column = request.GET.get("sort", "")
    return (column if column in table.columns else ""), request.GET.get("dir") == "desc"


def _query(**params) -> str:
    return urlencode({key: value for key, value in params.items() if value})


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _prepare(row: TableRow, table: DataTable) -> TableRow:
    row.cells = [row.values.get(column) for column in table.columns]
    return row


def _row_context(request, table: DataTable, row: TableRow, **extra) -> dict:
    context = {
        "table": table,
        "row": _prepare(row, table),
        "can_edit": request.membership.can("write"),
        "back": request.GET.get("back", ""),
        **extra,
    }
    context["back_url"] = _back_url(table, context["back"])
    return context


def _back_url(table: DataTable, back: str) -> str:
    """The table page with the sorting and page the person came from (only those keys)."""
    kept = QueryDict(back)
    query = _query(sort=kept.get("sort"), dir=kept.get("dir"), page=kept.get("page"))
    url = reverse("automations:table", args=[table.pk])
    return f"{url}?{query}" if query else url


@require_GET
@org_member("view")
def table_list(request):
    found = DataTable.objects.for_org(request.org).annotate(row_count=Count("rows"))
    return render(request, "automations/tables/list.html", {"tables": found})


@require_GET
@org_member("view")
def table_detail(request, pk: int):
    table = _table(request, pk)
    column, descending = _sorting(request, table)
    rows = tables.sorted_rows(table, column, descending)
    page_obj = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page_obj:
        _prepare(row, table)
    headers = [_header(name, name, column, descending) for name in table.columns]
    added = _header("Added", "", column, descending)
    current = _query(sort=column, dir="desc" if descending else "", page=page_obj.number)
    return render(
        request,
        "automations/tables/detail.html",
        {
            "table": table,
            "headers": headers,
            "added": added,
            "page_obj": page_obj,
            "row_count": len(rows),
            "can_edit": request.membership.can("write"),
            "can_delete": can_manage(request.membership),
            "back": current,
            "sort_query": _query(sort=column, dir="desc" if descending else ""),
            "formats": tables.FORMATS,
        },
    )


def _header(label: str, key: str, column: str, descending: bool) -> dict:
    """A sortable column header: clicking sorts by it, clicking again reverses."""
    active = key == column
    next_desc = active and not descending
    return {
        "label": label,
        "active": active,
        "aria_sort": ("descending" if descending else "ascending") if active else "none",
        "arrow": ("▼" if descending else "▲") if active else "",
        "query": _query(sort=key, dir="desc" if next_desc else ""),
    }


@require_GET
@org_member("view")
def row_detail(request, pk: int, row: int):
    """One row as the table shows it (what htmx puts back when an edit is canceled)."""
    found = _row(request, pk, row)
    if not _is_htmx(request):
        return redirect(_back_url(found.table, request.GET.get("back", "")))
    return render(
        request, "automations/tables/_row.html", _row_context(request, found.table, found)
    )


@require_http_methods(["GET", "POST"])
@org_member("write")
def row_edit(request, pk: int, row: int):
    found = _row(request, pk, row)
    table = found.table
    back = request.POST.get("back") if request.method == "POST" else request.GET.get("back")
    form = RowForm.for_row(found, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            tables.update_row(found, form.values(), request.user)
            if _is_htmx(request):
                context = _row_context(request, table, found, back=back or "", saved=True)
                return render(request, "automations/tables/_row.html", context)
            messages.success(request, "Saved the row.")
            return redirect(_back_url(table, back or ""))
        status = 400
    template = "_row_form.html" if _is_htmx(request) else "row_edit.html"
    context = _row_context(request, table, found, form=form, back=back or "")
    context["fields"] = list(form)
    return render(request, f"automations/tables/{template}", context, status=status)


@require_POST
@org_member("write")
def row_delete(request, pk: int, row: int):
    found = _row(request, pk, row)
    table = found.table
    tables.delete_row(found)
    if _is_htmx(request):
        return HttpResponse("")  # htmx swaps the row out
    messages.success(request, "Deleted the row.")
    return redirect(_back_url(table, request.POST.get("back", "")))


@require_GET
@org_member("view")
def table_export(request, pk: int, fmt: str):
    table = _table(request, pk)
    if fmt not in tables.FORMATS:
        return HttpResponse(status=404)
    column, descending = _sorting(request, table)
    data, content_type = tables.export(table, fmt, tables.sorted_rows(table, column, descending))
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        True, tables.export_filename(table, fmt)
    )
    return response


@require_POST
@org_member("write")
def table_delete(request, pk: int):
    table = _table(request, pk)
    if not can_manage(request.membership):
        raise PermissionDenied("Only owners and admins delete tables.")
    name = table.name
    table.delete()
    messages.success(request, f"Deleted the table {name} and its rows.")
    return redirect("automations:tables")
