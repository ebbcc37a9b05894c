"""Runs over the API: list them with filters, read one with every step's output and its fields."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from api import pages, serializers
from api.auth import api_view, json_error, not_found
from api.filters import ParameterError, moment, ordered, refuse_unknown
from automations.models import Run, Workflow
from pyq_site.inputs import optional_int

FILTERS = {"workflow", "status", "since", "until", "page"}


@api_view(["GET"])
def runs(request: HttpRequest) -> JsonResponse:
    """The organization's runs, newest first (a builder's tests of a draft left out), filtered
    by `workflow` (id), `status`, and `since` / `until` (on when a run was created)."""
    number = pages.page_number(request)
    if number is None:
        return pages.bad_page()
    try:
        queryset = _filtered(request)
    except ParameterError as exc:
        return json_error(400, exc.code, str(exc))
    if queryset is None:
        return not_found("workflow")
    return pages.paginated(request, queryset, number, "runs", serializers.run_item)


def _filtered(request: HttpRequest):
    """The runs the filters keep; None when `workflow` is not one of the organization's."""
    refuse_unknown(request, FILTERS)
    queryset = (
        Run.objects.for_org(request.org)
        .filter(is_test=False)
        .select_related("document", "workflow", "workflow_version")
    )
    if "workflow" in request.GET:
        pk = optional_int(request.GET["workflow"], minimum=1)
        if pk is None:
            raise ParameterError("workflow must be a workflow's id, a whole number from 1.")
        if not Workflow.objects.for_org(request.org).filter(pk=pk).exists():
            return None
        queryset = queryset.filter(workflow_id=pk)
    if "status" in request.GET:
        status = request.GET["status"]
        if status not in Run.Status.values:
            raise ParameterError(f"status must be one of {', '.join(Run.Status.values)}.")
        queryset = queryset.filter(status=status)
    since, until = moment(request, "since"), moment(request, "until", end=True)
    ordered(since, until)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lte=until)
    return queryset


@api_view(["GET"])
def run(request: HttpRequest, run_id: str) -> JsonResponse:
    """A run with every step's output and the fields it found."""
    pk = optional_int(run_id, minimum=1)
    if pk is None:
        return not_found("run")
    found = (
        Run.objects.for_org(request.org)
        .select_related("document", "workflow", "workflow_version")
        .prefetch_related("steps")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        return not_found("run")
    return JsonResponse(serializers.run_detail(found))
