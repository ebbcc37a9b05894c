"""Testing a draft in the builder: a run of the draft on a sample (one of the
organization's documents or a file uploaded for it), and the run as the page polls it, each
step's result as an HTML piece under the step."""

from __future__ import annotations

import uuid

from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from automations.engine.filetypes import FileRejected
from automations.engine.spec import step_id as spec_step_id
from automations.models import Document, Run, Workflow
from automations.web.builder import bad_request, scrubbed, url_or_none, workflow_or_404
from automations.web.builder_data import draft_problems
from automations.web.presentation import step_result
from automations.workflows import (
    WorkflowError,
    check_draft,
    start_test_run,
    start_test_run_on_upload,
)


def _test_run(workflow: Workflow, pk: int) -> Run:
    return get_object_or_404(
        Run.objects.for_org(workflow.organization).select_related("document"),
        pk=pk,
        workflow=workflow,
        is_test=True,
    )


@require_POST
@org_member("write")
def builder_test(request, pk: int):
    """Run the draft on a sample: one of the organization's documents (`document`, its uid)
    or a file uploaded here (`file`). Answers with the run to poll."""
    workflow = workflow_or_404(request, pk)
    try:
        check_draft(workflow)
    except WorkflowError as exc:
        return bad_request(scrubbed(exc, workflow.draft), problems=draft_problems(workflow.draft))
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            run = start_test_run_on_upload(workflow, upload, user=request.user)
        except FileRejected as exc:
            return bad_request(f"{upload.name}: {exc}", field="file")
        document = run.document
    else:
        uid = request.POST.get("document", "")
        document = Document.objects.for_org(request.org).filter(uid=_uuid(uid)).first()
        if document is None:
            return bad_request("Choose a sample document or upload one.", field="document")
        run = start_test_run(workflow, document, user=request.user)
    return JsonResponse(
        {
            "run": run.pk,
            "poll": reverse("automations:builder_test_run", args=[workflow.pk, run.pk]),
            "document": {"uid": str(document.uid), "name": document.original_name},
        },
        status=201,
    )


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@require_GET
@org_member("view")
def builder_test_run(request, pk: int, run_pk: int):
    """A test run as the page shows it: a summary and each step's result, as HTML pieces."""
    workflow = workflow_or_404(request, pk)
    run = _test_run(workflow, run_pk)
    step_runs = {s.step_id: s for s in run.steps.all()}
    steps = {}
    for position, item in enumerate(run.pipeline):
        step_id = spec_step_id(item)
        step_run = step_runs.get(step_id)
        status = step_run.status if step_run else ("waiting" if run.is_active else "not_run")
        steps[step_id] = {
            "status": status,
            "html": render_to_string(
                "automations/builder/_step_result.html",
                {"step_run": step_run, "status": status, "run": run, "position": position}
                | step_result(step_run),
                request=request,
            ),
        }
    summary = render_to_string(
        "automations/builder/_test_summary.html",
        {"run": run, "run_url": url_or_none("automations:run", run.pk)},
        request=request,
    )
    return JsonResponse(
        {
            "run": run.pk,
            "status": run.status,
            "active": run.is_active,
            "summary": summary,
            "steps": steps,
        }
    )
