"""Fixtures of the API tests: another organization's caller (the owner's, `api`, is in
tests/conftest.py; ApiCaller and caller_for in tests/api/callers.py), and a published
workflow with a finished run."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from automations.models import Run, StepRun, Workflow
from automations.workflows import publish
from tests.api.callers import ApiCaller, caller_for
from tests.automations.helpers import make_document


@pytest.fixture
def outsider_api(outsider) -> ApiCaller:
    """An API key of another organization."""
    return caller_for(outsider)


@pytest.fixture
def published(workflow, owner) -> Workflow:
    """The owner's "Invoice intake", published once (version 1)."""
    publish(workflow, user=owner.user, note="first")
    workflow.refresh_from_db()
    return workflow


def finished_run(
    workflow: Workflow,
    name: str,
    fields: dict[str, dict],
    *,
    status: str = Run.Status.SUCCEEDED,
    created_at: datetime | None = None,
) -> Run:
    """The run of a new document, made a finished run of the workflow's current version
    whose extract_fields step found `fields` (in their order)."""
    run = make_document(workflow.organization, name, b"hello").runs.get()
    run.workflow, run.workflow_version = workflow, workflow.current_version
    run.status, run.finished_at = status, timezone.now()
    run.created_at = created_at or run.created_at
    run.save()
    StepRun.objects.create(
        run=run,
        position=0,
        step="extract_fields",
        status=StepRun.Status.SUCCEEDED,
        output={"fields": fields, "order": list(fields)},
    )
    return run
