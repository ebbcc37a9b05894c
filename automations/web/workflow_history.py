"""A workflow's history: its published versions, what changed between them and in the draft,
and restoring a version into the draft.

Everything is fetched through ``request.org``: another organization's workflow is a 404.
Viewers read; members restore.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from automations import workflows
from automations.engine.masking import mask_secrets
from automations.models import WorkflowVersion
from automations.web.presentation import step_chain
from automations.web.workflows import draft_changed, workflow_with_version


@require_GET
@org_member("view")
def workflow_history(request, pk: int):
    workflow = workflow_with_version(request, pk)
    versions = list(workflow.versions.select_related("published_by"))
    for index, version in enumerate(versions):
        previous = versions[index + 1] if index + 1 < len(versions) else None
        version.previous = previous
        version.changes = _changes(previous.spec if previous else [], version.spec)
        version.is_current = version.pk == workflow.current_version_id
        version.is_draft = version.spec == workflow.draft
        version.chain = step_chain(version.spec)
        version.pretty = json.dumps(mask_secrets(version.spec), indent=2, ensure_ascii=False)
    latest = versions[0] if versions else None
    draft_changes = _changes(latest.spec if latest else [], workflow.draft)
    return render(
        request,
        "automations/workflows/history.html",
        {
            "workflow": workflow,
            "versions": versions,
            "latest": latest,
            "draft_changes": draft_changes,
            "draft_changed": draft_changed(workflow),
        },
    )


def _changes(old: list[dict], new: list[dict]) -> list[str]:
    try:
        return workflows.changes(old, new)
    except (ValueError, TypeError, AttributeError):
        # A draft saved half-way (two steps with one id) has no step-by-step diff.
        return ["The steps changed (the draft is not complete enough to compare step by step)."]


@require_POST
@org_member("write")
def workflow_restore(request, pk: int, number: int):
    workflow = workflow_with_version(request, pk)
    version = get_object_or_404(WorkflowVersion, workflow=workflow, number=number)
    workflows.restore(workflow, version, user=request.user)
    messages.success(
        request,
        f"Version {version.number} is the draft again. Publish it in the builder to run it.",
    )
    return redirect("automations:workflow_history", pk=workflow.pk)
