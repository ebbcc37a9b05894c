"""Run pages: the list with its filters, one run (and its live parts), and what people do
with a run: cancel, retry, run again on the workflow's current version."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from automations.models import Run, StepRun
from automations.runs import control
from automations.web.forms import RunFilterForm
from automations.web.presentation import annotate_progress, step_views
from automations.workflows import WorkflowError, start_workflow_run

PAGE_SIZE = 25


def _runs(request):
    return Run.objects.for_org(request.org).select_related(
        "document", "triggered_by", "workflow", "workflow_version"
    )


def _run(request, pk: int) -> Run:
    return get_object_or_404(_runs(request), pk=pk)


@require_GET
@org_member("view")
def run_list(request):
    form = RunFilterForm(request.GET or None, org=request.org)
    runs = form.filter(_runs(request).prefetch_related("steps"))
    page_obj = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    for run in page_obj:
        annotate_progress(run)
    filtered = any(
        value for name, value in getattr(form, "cleaned_data", {}).items() if name != "tests"
    )
    return render(
        request,
        "automations/run_list.html",
        {"page_obj": page_obj, "form": form, "filtered": filtered},
    )


@require_GET
@org_member("view")
def run_row(request, pk: int):
    """One row of a run table; htmx polls it while the run is active."""
    run = annotate_progress(_run(request, pk))
    where = "workflow" if request.GET.get("in") == "workflow" else "list"
    return render(request, "automations/run_row.html", {"run": run, "where": where})


@require_GET
@org_member("view")
def run_progress(request, pk: int):
    """The live status block; htmx polls it while the run is active."""
    run = get_object_or_404(Run.objects.for_org(request.org).select_related("document"), pk=pk)
    reload = request.GET.get("reload", "")
    response = render(request, "automations/_run_progress.html", {"run": run, "reload": reload})
    if request.headers.get("HX-Request") and reload and not run.is_active:
        response["HX-Refresh"] = "true"  # the page shows the text once the run is done
    return response


@require_GET
@org_member("view")
def run_detail(request, pk: int):
    """Everything about one run; with ``?live=1`` (htmx, every second while it is active)
    only the part that changes."""
    run = _run(request, pk)
    live = request.GET.get("live")
    template = "automations/run_live.html" if live else "automations/run_detail.html"
    return render(request, template, run_context(run))


def run_context(run: Run) -> dict:
    annotate_progress(run)
    workflow = run.workflow
    current = workflow.current_version if workflow else None
    newer = None
    if current is not None and not run.is_test:
        used = run.workflow_version.number if run.workflow_version else 0
        newer = current if current.number > used else None
    return {
        "run": run,
        "workflow": workflow,
        "steps": step_views(run),
        "newer_version": newer,
        "can_retry": run.status in (Run.Status.FAILED, Run.Status.CANCELED),
        # A draft's test runs again from the builder (with the draft as it is now).
        "can_retry_whole": run.status in (Run.Status.FAILED, Run.Status.CANCELED)
        and not run.is_test,
        "has_failed_step": run.steps.filter(status=StepRun.Status.FAILED).exists(),
    }


def _back_to_run(run: Run):
    return redirect("automations:run", pk=run.pk)


@require_POST
@org_member("write")
def run_cancel(request, pk: int):
    run = _run(request, pk)
    try:
        control.cancel_run(run, user=request.user)
    except control.RunStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Canceled run {run.pk}.")
    return _back_to_run(run)


@require_POST
@org_member("write")
def run_retry(request, pk: int):
    """Retry a failed or canceled run from its failed step, or (``whole``) from scratch."""
    run = _run(request, pk)
    whole = bool(request.POST.get("whole"))
    if whole and run.is_test:
        messages.error(request, "A test of a draft runs again from the builder.")
        return _back_to_run(run)
    try:
        again = control.retry_run(run, user=request.user, whole=whole)
    except (control.RunStateError, WorkflowError) as exc:
        messages.error(request, str(exc))
        return _back_to_run(run)
    if whole:
        messages.success(request, f"Started run {again.pk}: every step again.")
    else:
        version = again.workflow_version
        on = f" with version {version.number}" if version else ""
        messages.success(request, f"Retrying run {run.pk} from the step that stopped{on}.")
    return _back_to_run(again)


@require_POST
@org_member("write")
def run_rerun(request, pk: int):
    """Run the run's document again through its workflow's current version."""
    run = _run(request, pk)
    if run.workflow is None:
        messages.error(request, "This run is not part of a workflow.")
        return _back_to_run(run)
    try:
        again = start_workflow_run(
            run.workflow, run.document, user=request.user, trigger=Run.Trigger.RERUN
        )
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return _back_to_run(run)
    number = again.workflow_version.number
    messages.success(request, f"Started run {again.pk} of {run.document} on version {number}.")
    return _back_to_run(again)
