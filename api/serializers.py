"""Plain functions that turn rows into JSON-ready dicts; the API's shapes live here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automations.engine.fields.order import ordered_fields
from automations.models import Document, Page, Run, StepRun, Trigger, Workflow, WorkflowVersion


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def run_summary(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.pk, "status": run.status, "finished_at": iso(run.finished_at)}


def document_summary(document: Document) -> dict[str, Any]:
    """A document in lists and upload answers; `run` is its latest run, if any."""
    return {
        "id": str(document.uid),
        "name": document.original_name,
        "kind": document.kind,
        "mime_type": document.mime_type,
        "size": document.size,
        "pages": document.page_count,
        "source": document.source,
        "parent": str(document.parent.uid) if document.parent_id else None,
        "created_at": iso(document.created_at),
        "run": run_summary(document.latest_run),
    }


def page_detail(page: Page) -> dict[str, Any]:
    return {
        "number": page.number,
        "method": page.method,
        "ocr_confidence": page.ocr_confidence,
        "text": page.text,
        "width": page.width,
        "height": page.height,
    }


def step_detail(step: StepRun) -> dict[str, Any]:
    return {
        "position": step.position,
        "step": step.step,
        "status": step.status,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "output": step.output,
        "error": step.error,
    }


def run_workflow(run: Run) -> dict[str, Any] | None:
    """The workflow and version a run belongs to; None for the default reading of an upload."""
    if run.workflow_id is None:
        return None
    version = run.workflow_version
    return {
        "id": run.workflow_id,
        "name": run.workflow.name if run.workflow else None,
        "version": version.number if version else None,
    }


def run_fields(run: Run) -> dict[str, dict[str, Any]]:
    """The fields its extract_fields step found, in their order: {name: {"value",
    "confidence", "currency"?}} (evidence is in the step's output)."""
    fields = {}
    for name, found in ordered_fields(run.output_of("extract_fields")):
        found = found or {}
        entry = {"value": found.get("value"), "confidence": found.get("confidence")}
        if found.get("currency") is not None:
            entry["currency"] = found["currency"]
        fields[name] = entry
    return fields


def run_item(run: Run) -> dict[str, Any]:
    """A run in lists: what it read, for which workflow, and where it stands."""
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "workflow": run_workflow(run),
        "document": {"id": str(run.document.uid), "name": run.document.original_name},
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }


def run_detail(run: Run) -> dict[str, Any]:
    """A run with every step's output and the fields it found; `document` names the
    document it read."""
    return {
        **run_item(run),
        "pages_total": run.pages_total,
        "pages_done": run.pages_done,
        "progress": run.progress_percent,
        "error": run.error,
        "warnings": run.warnings,
        "fields": run_fields(run),
        "steps": [step_detail(step) for step in run.steps.all()],
    }


def document_detail(document: Document) -> dict[str, Any]:
    """A document with its text page by page, its attachments and its latest run in full."""
    run = document.latest_run
    pages = list(document.pages.all())
    return {
        **document_summary(document),
        "content": {
            "text": "\n\n".join(page.text for page in pages),
            "pages": [page_detail(page) for page in pages],
        },
        "attachments": [document_summary(child) for child in document.attachments.all()],
        "run": run_detail(run) if run else None,
    }


def version_summary(version: WorkflowVersion) -> dict[str, Any]:
    """A published version: its number, note, date and the kinds of its steps (their
    settings may hold secrets, so they stay in the builder)."""
    return {
        "number": version.number,
        "note": version.note,
        "published_at": iso(version.published_at),
        "steps": [step.get("step") for step in version.spec if isinstance(step, dict)],
    }


def workflow_summary(workflow: Workflow) -> dict[str, Any]:
    """A workflow in lists; `current_version` is the published version uploads run, if any."""
    current = workflow.current_version
    return {
        "id": workflow.pk,
        "name": workflow.name,
        "description": workflow.description,
        "created_at": iso(workflow.created_at),
        "current_version": current.number if current else None,
    }


def trigger_summary(trigger: Trigger) -> dict[str, Any]:
    """A way in: its kind and whether it is paused. Its secret (in its web address and its
    mail address) is never shown whole: `token_end` is its last 4 characters, to tell which
    one is in use."""
    return {
        "id": trigger.pk,
        "kind": trigger.kind,
        "paused": trigger.paused,
        "token_end": trigger.token[-4:],
        "created_at": iso(trigger.created_at),
        "last_used_at": iso(trigger.last_used_at),
    }


def workflow_detail(workflow: Workflow) -> dict[str, Any]:
    """A workflow with its published versions, newest first, and its triggers."""
    return {
        **workflow_summary(workflow),
        "versions": [version_summary(v) for v in workflow.versions.all()],
        "triggers": [trigger_summary(t) for t in workflow.triggers.all()],
    }
