"""A workflow's export: the fields its finished runs found, as CSV, XLSX or JSON.

Everything is fetched through ``request.org``: another organization's workflow is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from accounts.decorators import org_member
from automations import workflows
from automations.web.forms import ExportForm
from automations.web.workflows import workflow_with_version


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
    data = form.cleaned_data
    found = workflows.export_fields(workflow, data["format"], data["since"], data["until"])
    response = HttpResponse(found.body, content_type=found.content_type)
    response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response
