"""The workflow builder: a page that edits a workflow's draft, and the JSON endpoints it calls.

The page (templates/automations/builder/builder.html + static/js/builder.js) keeps the
draft in the browser and saves it as you go; every save answers with the draft's problems
(automations.engine.pipeline.check_pipeline) so the page shows them next to the fields.
A test runs the draft on a worker (builder_test.py); the page polls it and shows each
step's status, input, output, duration and log under the step.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_member
from automations.engine.masking import (
    MASK,
    MaskedSecretLost,
    keep_draft_secrets,
    mask_secrets,
    scrub,
    secret_values,
)
from automations.engine.steps import all_steps
from automations.models import Document, Workflow
from automations.pipelines import WORKFLOW_TEMPLATES
from automations.web.builder_data import (
    OPERATORS,
    draft_problems,
    preset_fields,
    reference_options,
    step_library,
    test_outputs,
)
from automations.workflows import (
    WorkflowError,
    create_workflow,
    last_test_run,
    publish,
    save_draft,
)
from pyq_site.inputs import InputError, load_json, optional_int

SAMPLE_DOCUMENTS = 50  # the newest documents offered as test samples
MAX_POSITION = 10_000  # ?position= of the references endpoint


# --- helpers ------------------------------------------------------------------------------


def workflow_or_404(request, pk: int) -> Workflow:
    return get_object_or_404(Workflow.objects.for_org(request.org), pk=pk)


def url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # a page another part of the dashboard may not have yet
        return None


def json_body(request) -> Any:
    """The body as JSON (None when empty); InputError says why it cannot be used (not
    JSON, nested too deeply, a number too large; pyq_site.inputs)."""
    return load_json(request.body or b"null", what="The body")


def _published(workflow: Workflow) -> dict | None:
    version = workflow.current_version
    if version is None:
        return None
    return {
        "number": version.number,
        "published_at": version.published_at.isoformat(),
        "changed": version.spec != workflow.draft,
    }


def scrubbed(exc: Exception, spec: Any) -> str:
    """An error about a draft, without the secrets it may quote."""
    return scrub(str(exc), secret_values(spec))


def bad_request(message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=400)


# --- pages --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@org_member("write")
def builder_new(request):
    """Choose a template (or blank); POST creates the workflow and opens its builder."""
    error = ""
    if request.method == "POST":
        key = request.POST.get("template", "")
        name = request.POST.get("name", "").strip()
        try:
            if key == "blank":
                workflow = create_workflow(
                    request.org, name or "Untitled workflow", user=request.user
                )
            elif key in WORKFLOW_TEMPLATES:
                template = WORKFLOW_TEMPLATES[key]
                workflow = create_workflow(
                    request.org,
                    name or template["name"],
                    user=request.user,
                    steps=template["steps"],
                )
            else:
                raise WorkflowError("Choose a template or start from blank.")
        except WorkflowError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Created {workflow.name}. Add and configure its steps.")
            return redirect("automations:builder", pk=workflow.pk)
    labels = {s.name: s.label for s in all_steps().values()}
    templates = [
        {
            "key": key,
            "name": t["name"],
            "description": t["description"],
            "steps": [labels.get(s["step"], s["step"]) for s in t["steps"]],
        }
        for key, t in WORKFLOW_TEMPLATES.items()
    ]
    return render(
        request,
        "automations/builder/new.html",
        {"templates": templates, "error": error},
        status=400 if error else 200,
    )


@require_GET
@org_member("view")
def builder(request, pk: int):
    workflow = workflow_or_404(request, pk)
    can_edit = request.membership.can("write")
    last = last_test_run(workflow)
    documents = Document.objects.for_org(request.org).only("uid", "original_name", "created_at")[
        :SAMPLE_DOCUMENTS
    ]
    boot = {
        "workflow": {"id": workflow.pk, "name": workflow.name},
        # Secrets never reach the page, whatever the role: a masked value saved back keeps the
        # stored one (builder_draft), so editors leave it as is to keep it.
        "draft": mask_secrets(workflow.draft),
        "mask": MASK,
        "canEdit": can_edit,
        "library": step_library(request.org),
        "operators": OPERATORS,
        "presetFields": preset_fields(),
        "problems": draft_problems(workflow.draft),
        "published": _published(workflow),
        "testRun": last.pk if last else None,
        "urls": {
            "draft": reverse("automations:builder_draft", args=[workflow.pk]),
            "references": reverse("automations:builder_references", args=[workflow.pk]),
            "test": reverse("automations:builder_test", args=[workflow.pk]),
            "testRun": reverse("automations:builder_test_run", args=[workflow.pk, 0]),
            "publish": reverse("automations:builder_publish", args=[workflow.pk]),
        },
    }
    return render(
        request,
        "automations/builder/builder.html",
        {
            "workflow": workflow,
            "boot": boot,
            "can_edit": can_edit,
            "documents": documents,
            "workflow_url": url_or_none("automations:workflow", workflow.pk),
        },
    )


# --- JSON endpoints -----------------------------------------------------------------------


@require_POST
@org_member("write")
def builder_draft(request, pk: int):
    """Save the draft as it is (complete or not) and answer with its problems.

    Body: {"steps": [...], "name": "..." (optional)}."""
    workflow = workflow_or_404(request, pk)
    try:
        body = json_body(request)
    except InputError as exc:
        return bad_request(str(exc))
    if not isinstance(body, dict) or "steps" not in body:
        return bad_request('Send the draft as JSON: {"steps": [...]}.')
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        return bad_request("Give the workflow a name.", field="name")
    steps = body["steps"]
    try:
        if isinstance(steps, list):  # a masked secret that comes back keeps the stored one
            steps = keep_draft_secrets(steps, workflow.draft)
    except MaskedSecretLost as exc:
        return bad_request(str(exc))
    try:
        with transaction.atomic():
            save_draft(workflow, steps, user=request.user)
            if name is not None and name.strip()[:120] != workflow.name:
                workflow.name = name.strip()[:120]
                workflow.save(update_fields=["name"])
    except WorkflowError as exc:
        return bad_request(str(exc))
    return JsonResponse(
        {
            "saved_at": workflow.draft_updated_at.isoformat(),
            "problems": draft_problems(workflow.draft),
            "published": _published(workflow),
        }
    )


@require_GET
@org_member("view")
def builder_library(request, pk: int):
    workflow_or_404(request, pk)
    return JsonResponse({"kinds": step_library(request.org)})


@require_GET
@org_member("view")
def builder_references(request, pk: int):
    """References earlier steps offer, with previews from the last test run.

    With ?position=N: the options for the step at N (0-based) in the saved draft. Without:
    every step's test outputs by step id (the page filters them as steps move)."""
    workflow = workflow_or_404(request, pk)
    run = last_test_run(workflow)
    position = request.GET.get("position")
    if position is None:
        return JsonResponse({"test_run": run.pk if run else None, "outputs": test_outputs(run)})
    number = optional_int(position, minimum=0, maximum=MAX_POSITION)
    if number is None:
        return bad_request("position is a step number from 0.")
    options = reference_options(workflow.draft, number, run)
    return JsonResponse({"test_run": run.pk if run else None, "options": options})


@require_POST
@org_member("write")
def builder_publish(request, pk: int):
    """Publish the draft as the next version; a draft with problems lists them instead."""
    workflow = workflow_or_404(request, pk)
    try:
        body = json_body(request) if request.content_type == "application/json" else None
    except InputError as exc:
        return bad_request(str(exc))
    note = body.get("note", "") if isinstance(body, dict) else request.POST.get("note", "")
    if not isinstance(note, str):
        return bad_request("The note is text.", field="note")
    try:
        version = publish(workflow, user=request.user, note=note)
    except WorkflowError as exc:
        return bad_request(scrubbed(exc, workflow.draft), problems=draft_problems(workflow.draft))
    workflow.refresh_from_db()
    return JsonResponse(
        {
            "version": version.number,
            "message": f"Published version {version.number}. New documents run through it.",
            "workflow_url": url_or_none("automations:workflow", workflow.pk),
            "published": _published(workflow),
        }
    )
