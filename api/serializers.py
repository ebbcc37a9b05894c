"""Plain functions that turn rows into JSON-ready dicts; the API's shapes live here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automations.models import Document, Page, Run, StepRun


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


def run_detail(run: Run) -> dict[str, Any]:
    """A run with its steps; `document` names the document it read."""
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "document": {"id": str(run.document.uid), "name": run.document.original_name},
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "pages_total": run.pages_total,
        "pages_done": run.pages_done,
        "progress": run.progress_percent,
        "error": run.error,
        "warnings": run.warnings,
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
