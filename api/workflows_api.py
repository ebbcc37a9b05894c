"""Workflows over the API: list and read them, send them documents, export their fields.

Every workflow is looked up through the key's organization: another organization's id is a 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from api import pages, serializers
from api.auth import api_view, json_error, not_found
from api.filters import ParameterError, day, ordered, refuse_unknown
from api.idempotency import idempotent
from api.views import upload_files
from automations import exports
from automations.models import Workflow
from automations.workflows import export_fields
from pyq_site.inputs import optional_int

EXPORT_PARAMETERS = {"format", "since", "until"}


def _workflow(request: HttpRequest, workflow_id: str) -> Workflow | None:
    pk = optional_int(workflow_id, minimum=1)
    if pk is None:
        return None
    return (
        Workflow.objects.for_org(request.org)
        .select_related("current_version")
        .filter(pk=pk)
        .first()
    )


@api_view(["GET"])
def workflows(request: HttpRequest) -> JsonResponse:
    """The organization's workflows by name, PAGE_SIZE a page."""
    number = pages.page_number(request)
    if number is None:
        return pages.bad_page()
    queryset = Workflow.objects.for_org(request.org).select_related("current_version")
    return pages.paginated(request, queryset, number, "workflows", serializers.workflow_summary)


@api_view(["GET"])
def workflow(request: HttpRequest, workflow_id: str) -> JsonResponse:
    """A workflow with its published versions and its triggers."""
    found = _workflow(request, workflow_id)
    if found is None:
        return not_found("workflow")
    return JsonResponse(serializers.workflow_detail(found))


@api_view(["POST"])
@idempotent
def workflow_documents(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """Send `file` fields to the workflow: each runs its current published version."""
    found = _workflow(request, workflow_id)
    if found is None:
        return not_found("workflow")
    if found.current_version is None:
        return json_error(
            409,
            "not_published",
            f"The workflow {found.name!r} has no published version yet: publish it in the "
            "builder, then send documents to it.",
        )
    return upload_files(request, version=found.current_version)


@api_view(["GET"])
def workflow_export(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """The fields the workflow's finished runs found, oldest first, as CSV, XLSX or JSON;
    `since` and `until` (dates, inclusive) filter on the day a run was created."""
    found = _workflow(request, workflow_id)
    if found is None:
        return not_found("workflow")
    try:
        refuse_unknown(request, EXPORT_PARAMETERS)
        fmt = request.GET.get("format") or "csv"
        if fmt not in exports.CONTENT_TYPES:
            raise ParameterError(f"format must be one of {', '.join(exports.CONTENT_TYPES)}.")
        since, until = day(request, "since"), day(request, "until")
        ordered(since, until)
    except ParameterError as exc:
        return json_error(400, exc.code, str(exc))
    exported = export_fields(found, fmt, since, until)
    response = HttpResponse(exported.body, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response
