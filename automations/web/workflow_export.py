"""A workflow's export: the fields its finished runs found, as CSV, XLSX or JSON.

Everything is fetched through ``request.org``: another organization's workflow is a 404.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from accounts.decorators import org_member
from automations import exports
from automations.engine.fields.order import ordered_fields
from automations.models import Run, Workflow
from automations.web.forms import ExportForm
from automations.web.workflows import workflow_runs, workflow_with_version


@require_GET
@org_member("view")
def workflow_export(request, pk: int):
    """The fields every finished run of the workflow found, as CSV, XLSX or JSON; draft
    tests are left out. ``since`` and ``until`` (inclusive) filter on the day a run started."""
    workflow = workflow_with_version(request, pk)
    form = ExportForm(request.GET or None)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            if name != "__all__"
            else " ".join(errors)
            for name, errors in form.errors.items()
        )
        messages.error(request, f"Cannot export: {problems or 'choose a format.'}")
        return redirect("automations:workflow", pk=workflow.pk)
    runs = export_runs(workflow, form.cleaned_data["since"], form.cleaned_data["until"])
    fmt = form.cleaned_data["format"]
    body, content_type = exports.export([export_row(run) for run in runs], fmt)
    response = HttpResponse(body, content_type=content_type)
    name = slugify(workflow.name) or "workflow"
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{timezone.localdate().isoformat()}.{fmt}"'
    )
    return response


def export_runs(workflow: Workflow, since: date | None, until: date | None):
    runs = (
        workflow_runs(workflow)
        .exclude(status__in=Run.ACTIVE)
        .order_by("created_at", "pk")  # oldest first, like a ledger
    )
    if since:
        runs = runs.filter(created_at__date__gte=since)
    if until:
        runs = runs.filter(created_at__date__lte=until)
    return runs


def export_row(run: Run) -> exports.ExportRow:
    return exports.ExportRow(
        document=run.document.original_name,
        run_id=run.pk,
        finished_at=run.finished_at,
        status=run.status,
        fields=ordered_fields(run.output_of("extract_fields")),
    )
