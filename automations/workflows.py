"""Workflows: edit a draft, publish immutable versions, restore an old one, run a version.

What views, the API and triggers call; the spec is a pipeline (automations/engine/pipeline.py)
checked by parse_pipeline before it can be published.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Organization, User
from automations import exports, intake
from automations.engine import spec
from automations.engine.fields.order import ordered_fields
from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError
from automations.models import Document, Run, Trigger, Workflow, WorkflowVersion
from automations.runs.control import start_run


class WorkflowError(ValueError):
    """Something the person must fix; the message says what."""


def create_workflow(
    org: Organization, name: str, *, user: User | None = None, steps: list[dict] | None = None
) -> Workflow:
    name = name.strip()
    if not name:
        raise WorkflowError("Give the workflow a name.")
    return Workflow.objects.create(
        organization=org,
        name=name,
        draft=copy.deepcopy(steps or []),
        created_by=user,
        draft_updated_by=user,
    )


def save_draft(workflow: Workflow, steps: list[dict], *, user: User | None = None) -> Workflow:
    """Keep an edited draft. It may be incomplete (the builder saves as you go); it is
    checked when published or tested."""
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise WorkflowError("A workflow's steps are a list of objects.")
    workflow.draft = copy.deepcopy(steps)
    workflow.draft_updated_at = timezone.now()
    workflow.draft_updated_by = user
    workflow.save(update_fields=["draft", "draft_updated_at", "draft_updated_by"])
    return workflow


def check_draft(workflow: Workflow) -> None:
    """Raise WorkflowError with the first problem of the draft, if any."""
    try:
        parse_pipeline(workflow.draft)
    except StepConfigError as exc:
        raise WorkflowError(str(exc)) from exc


@transaction.atomic
def publish(workflow: Workflow, *, user: User | None = None, note: str = "") -> WorkflowVersion:
    """Freeze the draft as the next version, which new runs then use."""
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)  # one publisher at a time
    check_draft(locked)
    latest = locked.versions.first()
    if latest is not None and latest.spec == locked.draft:
        raise WorkflowError(f"Nothing changed since version {latest.number}.")
    number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkflowVersion.objects.create(
        workflow=locked,
        number=number,
        spec=copy.deepcopy(locked.draft),
        note=note.strip()[:200],
        published_by=user,
    )
    Workflow.objects.filter(pk=locked.pk).update(current_version=version)
    workflow.current_version = version
    return version


def restore(workflow: Workflow, version: WorkflowVersion, *, user: User | None = None) -> Workflow:
    """Make an old version the draft again (publishing it makes a new version)."""
    if version.workflow_id != workflow.pk:
        raise WorkflowError("That version belongs to another workflow.")
    return save_draft(workflow, version.spec, user=user)


def changes(old: list[dict], new: list[dict]) -> list[str]:
    """What changed between two specs, in words (the rule retry uses too: engine/spec.py)."""
    return spec.changes(old, new)


def start_workflow_run(
    workflow: Workflow,
    document: Document,
    *,
    user: User | None = None,
    trigger: str = Run.Trigger.UPLOAD,
) -> Run:
    """Queue a run of the workflow's published version over a document of its organization."""
    if document.organization_id != workflow.organization_id:
        raise WorkflowError("The document belongs to another organization.")
    version = workflow.current_version
    if version is None:
        raise WorkflowError(f"Publish {workflow.name} before it can run.")
    return start_run(document, trigger=trigger, user=user, version=version)


def start_test_run(
    workflow: Workflow,
    document: Document,
    *,
    user: User | None = None,
    trigger_ref: Trigger | None = None,
) -> Run:
    """Run the draft over a sample document on a worker, to see every step's output before
    publishing. The run is marked as a test: it is not in exports and not in the run list
    by default. Its actions (webhook, email, table) do run, like Zapier's and n8n's tests.
    trigger_ref: the way in whose test address sent the sample, if any."""
    if document.organization_id != workflow.organization_id:
        raise WorkflowError("The document belongs to another organization.")
    check_draft(workflow)
    return start_run(
        document,
        trigger=Run.Trigger.TEST,
        user=user,
        pipeline=copy.deepcopy(workflow.draft),
        workflow=workflow,
        is_test=True,
        trigger_ref=trigger_ref,
    )


def start_test_run_on_upload(
    workflow: Workflow, upload, *, user: User | None = None, trigger_ref: Trigger | None = None
) -> Run:
    """Store a file uploaded as a sample like any upload, but read by the test alone (not by
    the default reading), and run the draft over it, in one transaction. FileRejected says
    why the file is refused; nothing is kept then."""
    with transaction.atomic():
        document = intake.ingest(
            workflow.organization,
            upload,
            upload.name,
            user=user,
            declared_size=upload.size,
            enqueue=False,
        )
        document.runs.all().delete()
        return start_test_run(workflow, document, user=user, trigger_ref=trigger_ref)


def last_test_run(workflow: Workflow) -> Run | None:
    return workflow.runs.filter(is_test=True).order_by("-created_at", "-pk").first()


def rerun_on_current_version(
    workflow: Workflow, documents, *, user: User | None = None
) -> list[Run]:
    """Run documents again through the workflow's current published version."""
    return [
        start_workflow_run(workflow, document, user=user, trigger=Run.Trigger.RERUN)
        for document in documents
    ]


@dataclass
class ExportFile:
    body: bytes
    content_type: str
    filename: str


def export_fields(
    workflow: Workflow, fmt: str, since: date | None, until: date | None
) -> ExportFile:
    """The fields the workflow's finished runs found (draft tests left out), oldest first
    like a ledger, as CSV, XLSX or JSON; ``since`` and ``until`` (inclusive) filter on the
    day a run was created. The dashboard's export and the API's are this one file."""
    runs = (
        Run.objects.filter(organization=workflow.organization, workflow=workflow, is_test=False)
        .exclude(status__in=Run.ACTIVE)
        .select_related("document")
        .prefetch_related("steps")
        .order_by("created_at", "pk")
    )
    if since:
        runs = runs.filter(created_at__date__gte=since)
    if until:
        runs = runs.filter(created_at__date__lte=until)
    body, content_type = exports.export([_export_row(run) for run in runs], fmt)
    name = slugify(workflow.name) or "workflow"
    return ExportFile(body, content_type, f"{name}-{timezone.localdate().isoformat()}.{fmt}")


def _export_row(run: Run) -> exports.ExportRow:
    return exports.ExportRow(
        document=run.document.original_name,
        run_id=run.pk,
        finished_at=run.finished_at,
        status=run.status,
        fields=ordered_fields(run.output_of("extract_fields")),
    )
