"""A run's lifecycle as people ask for it: start, reprocess, cancel, retry."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from automations.engine import spec
from automations.models import Document, Run, StepRun, Trigger, Workflow, WorkflowVersion
from automations.pipelines import DEFAULT_PIPELINE
from automations.runs.queue import enqueue_run


class RunStateError(ValueError):
    """The run is not in a state that allows this; the message says why."""


def new_run(
    document: Document,
    *,
    trigger: str,
    user: User | None,
    pipeline: list[dict] | None,
    version: WorkflowVersion | None = None,
    workflow: Workflow | None = None,
    is_test: bool = False,
    trigger_ref: Trigger | None = None,
) -> Run:
    """An unsaved queued Run of the pipeline (the default one), or of a workflow version;
    trigger_ref is the way in (a workflow's Trigger) that started it, if any."""
    if version is not None:
        pipeline, workflow = version.spec, version.workflow
    return Run(
        organization=document.organization,
        document=document,
        trigger=trigger,
        triggered_by=user,
        pages_total=document.page_count,
        pipeline=pipeline or DEFAULT_PIPELINE,
        workflow_version=version,
        workflow=workflow,
        is_test=is_test,
        trigger_ref=trigger_ref,
    )


def start_run(
    document: Document,
    *,
    trigger: str = Run.Trigger.UPLOAD,
    user: User | None = None,
    pipeline: list[dict] | None = None,
    version: WorkflowVersion | None = None,
    workflow: Workflow | None = None,
    is_test: bool = False,
    enqueue: bool = True,
    trigger_ref: Trigger | None = None,
) -> Run:
    """Queue a run of `pipeline` (the default one), or of a published workflow version, over
    the document. A test of a workflow's draft passes the workflow, its draft and is_test.

    enqueue=False leaves the run queued for the caller to execute in this process.
    """
    run = new_run(
        document,
        trigger=trigger,
        user=user,
        pipeline=pipeline,
        version=version,
        workflow=workflow,
        is_test=is_test,
        trigger_ref=trigger_ref,
    )
    run.save()
    if enqueue:
        enqueue_run(run)
    return run


def reprocess(document: Document, *, user: User | None = None) -> Run:
    """Read a document again from scratch, with the pipeline of its latest run."""
    latest = document.latest_run
    images = [page.image.name for page in document.pages.all() if page.image]
    with transaction.atomic():
        document.pages.all().delete()
        run = start_run(
            document,
            trigger=Run.Trigger.RETRY,
            user=user,
            pipeline=latest.pipeline if latest else None,
        )
    for name in images:
        document.file.storage.delete(name)
    return run


def cancel_run(run: Run, *, user: User | None = None) -> Run:
    """Cancel a queued or running run. A running one stops before its next step."""
    who = f" by {user.email}" if user else ""
    updated = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELED, finished_at=timezone.now(), error=f"Canceled{who}."
    )
    run.refresh_from_db()
    if not updated:
        raise RunStateError(f"Run {run.pk} has already {run.get_status_display().lower()}.")
    return run


def retry_run(run: Run, *, user: User | None = None, whole: bool = False) -> Run:
    """Run a failed or canceled run again.

    By default it goes on from the step that failed: finished steps keep their results, and
    when its workflow has a newer published version (the fixed webhook URL), the remaining
    steps come from it; the steps from the first one the new version changes (its kind,
    configuration or condition) run again, since what follows may depend on it. Skipped
    steps are decided again. whole=True starts a new run of every step instead.
    """
    if run.status not in (Run.Status.FAILED, Run.Status.CANCELED):
        raise RunStateError("Only a failed or canceled run can be retried.")
    if whole:
        return _start_again(run, user)
    with transaction.atomic():
        version = run.workflow_version
        latest = version.workflow.current_version if version else None
        if latest is not None and latest != version:
            changed = spec.first_change(run.pipeline, latest.spec)
            run.steps.filter(position__gte=changed).delete()
            run.pipeline, run.workflow_version = latest.spec, latest
        run.steps.exclude(status=StepRun.Status.SUCCEEDED).delete()
        run.status, run.error, run.finished_at, run.heartbeat_at = Run.Status.QUEUED, "", None, None
        run.worker, run.lease_until, run.nudged_at = "", None, timezone.now()
        run.trigger, run.triggered_by, run.attempts = Run.Trigger.RETRY, user, 0
        run.save()
        enqueue_run(run)
    return run


def _start_again(run: Run, user: User | None) -> Run:
    """A new run of every step: of its workflow's published version, of the same steps (a
    draft's test, an API run with its own steps), or the default reading from scratch. The
    new run keeps the way in (trigger_ref) of the one it retries."""
    if run.workflow_version is not None:
        workflow = run.workflow_version.workflow
        version = workflow.current_version
        if version is None:
            raise RunStateError(f"Publish {workflow.name} before it can run.")
        return start_run(
            run.document,
            trigger=Run.Trigger.RETRY,
            user=user,
            version=version,
            trigger_ref=run.trigger_ref,
        )
    if run.is_test or run.pipeline != DEFAULT_PIPELINE:
        return start_run(
            run.document,
            trigger=Run.Trigger.RETRY,
            user=user,
            pipeline=run.pipeline,
            workflow=run.workflow,
            is_test=run.is_test,
            trigger_ref=run.trigger_ref,
        )
    return reprocess(run.document, user=user)
