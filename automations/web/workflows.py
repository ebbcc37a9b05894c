"""Workflow pages: the list, a workflow's overview (upload, runs, export), its history,
restoring a version, re-running documents, renaming and deleting.

Everything is fetched through ``request.org``: another organization's workflow is a 404.
Viewers read; members upload, re-run and restore; owners and admins rename and delete.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from accounts.models import Role
from automations import exports, intake, workflows
from automations.engine.masking import mask_secrets
from automations.models import Document, Run, Workflow, WorkflowVersion
from automations.web.forms import ExportForm, RenameForm, UploadForm
from automations.web.presentation import annotate_progress, step_chain
from catalog.presentation import ordered_fields

PAGE_SIZE = 25
MANAGERS = (Role.OWNER, Role.ADMIN)


def _workflow(request, pk: int) -> Workflow:
    return get_object_or_404(
        Workflow.objects.for_org(request.org).select_related("current_version"), pk=pk
    )


def can_manage(membership) -> bool:
    """Renaming and deleting a workflow is for owners and admins."""
    return membership is not None and membership.role in MANAGERS


def draft_changed(workflow: Workflow) -> bool:
    version = workflow.current_version
    return version is None or version.spec != workflow.draft


# --- the list -------------------------------------------------------------------------


@require_GET
@org_member("view")
def workflow_list(request):
    week_ago = timezone.now() - timedelta(days=7)
    items = (
        Workflow.objects.for_org(request.org)
        .select_related("current_version", "current_version__published_by")
        .annotate(
            recent_runs=Count("runs", filter=Q(runs__created_at__gte=week_ago, runs__is_test=False))
        )
        .order_by("name", "pk")  # Meta.ordering does not apply to a GROUP BY query
    )
    for item in items:
        item.draft_changed = draft_changed(item)
    return render(request, "automations/workflows/list.html", {"workflows": items})


# --- one workflow ---------------------------------------------------------------------


def workflow_runs(workflow: Workflow):
    """The workflow's real runs (its draft tests are in the builder), newest first."""
    return (
        Run.objects.filter(organization=workflow.organization, workflow=workflow, is_test=False)
        .select_related("document", "triggered_by", "workflow_version")
        .prefetch_related("steps")
    )


@org_member("view")
def workflow_detail(request, pk: int):
    workflow = _workflow(request, pk)
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not request.membership.can("write"):
            raise PermissionDenied("Viewers cannot upload documents.")
        form = UploadForm(request.POST, request.FILES)
        version = workflow.current_version
        if version is None:
            form.add_error(None, f"Publish {workflow.name} in the builder before it can run.")
        elif form.is_valid():
            accepted, rejected = intake.ingest_many(
                request.org, form.cleaned_data["files"], user=request.user, version=version
            )
            if accepted:
                names = ", ".join(d.original_name for d in accepted[:3])
                more = f" and {len(accepted) - 3} more" if len(accepted) > 3 else ""
                messages.success(
                    request,
                    f"Uploaded {names}{more}. Running them through version {version.number}.",
                )
            if not rejected:
                return redirect("automations:workflow", pk=workflow.pk)
            for rejection in rejected:
                form.add_error("files", str(rejection))
        status = 400
    page_obj = Paginator(workflow_runs(workflow), PAGE_SIZE).get_page(request.GET.get("page"))
    for run in page_obj:
        annotate_progress(run)
    return render(
        request,
        "automations/workflows/detail.html",
        {
            "workflow": workflow,
            "version": workflow.current_version,
            "draft_changed": draft_changed(workflow),
            "chain": step_chain(workflow.current_version.spec if workflow.current_version else []),
            "form": form,
            "export_form": ExportForm(),
            "rename_form": RenameForm(initial={"name": workflow.name}),
            "page_obj": page_obj,
            "document_count": workflow_runs(workflow)
            .order_by()  # the default ordering's columns would make every run distinct
            .values("document")
            .distinct()
            .count(),
            "can_manage": can_manage(request.membership),
        },
        status=status,
    )


@require_GET
@org_member("view")
def workflow_history(request, pk: int):
    workflow = _workflow(request, pk)
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
    workflow = _workflow(request, pk)
    version = get_object_or_404(WorkflowVersion, workflow=workflow, number=number)
    workflows.restore(workflow, version, user=request.user)
    messages.success(
        request,
        f"Version {version.number} is the draft again. Publish it in the builder to run it.",
    )
    return redirect("automations:workflow_history", pk=workflow.pk)


@require_GET
@org_member("view")
def workflow_export(request, pk: int):
    """The fields every finished run of the workflow found, as CSV, XLSX or JSON; draft
    tests are left out. ``since`` and ``until`` (inclusive) filter on the day a run started."""
    workflow = _workflow(request, pk)
    form = ExportForm(request.GET or None)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            if name != "__all__"
            else " ".join(errors)
            for name, errors in form.errors.items()
        )
        messages.error(request, f"Cannot export: {problems or 'choose a format.'}")
        return redirect("automations:workflow", pk=workflow.pk)
    runs = export_runs(workflow, form.cleaned_data["since"], form.cleaned_data["until"])
    fmt = form.cleaned_data["format"]
    body, content_type = exports.export([export_row(run) for run in runs], fmt)
    response = HttpResponse(body, content_type=content_type)
    name = slugify(workflow.name) or "workflow"
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{timezone.localdate().isoformat()}.{fmt}"'
    )
    return response


def export_runs(workflow: Workflow, since: date | None, until: date | None):
    runs = (
        workflow_runs(workflow)
        .exclude(status__in=Run.ACTIVE)
        .order_by("created_at", "pk")  # oldest first, like a ledger
    )
    if since:
        runs = runs.filter(created_at__date__gte=since)
    if until:
        runs = runs.filter(created_at__date__lte=until)
    return runs


def export_row(run: Run) -> exports.ExportRow:
    return exports.ExportRow(
        document=run.document.original_name,
        run_id=run.pk,
        finished_at=run.finished_at,
        status=run.status,
        fields=ordered_fields(run.output_of("extract_fields")),
    )


@require_POST
@org_member("write")
def workflow_rerun(request, pk: int):
    """Run the chosen documents (``document`` uids), or all of them (``all``), through the
    workflow's current version."""
    workflow = _workflow(request, pk)
    if workflow.current_version is None:
        messages.error(request, f"Publish {workflow.name} before re-running documents.")
        return redirect("automations:workflow", pk=workflow.pk)
    ran = Document.objects.for_org(request.org).filter(runs__workflow=workflow, runs__is_test=False)
    if request.POST.get("all"):
        documents = ran.distinct()
    else:
        uids = [uid for uid in request.POST.getlist("document") if _is_uuid(uid)]
        documents = ran.filter(uid__in=uids).distinct()
    documents = list(documents.order_by("created_at", "pk"))
    if not documents:
        messages.error(request, "Choose the documents to run again.")
        return redirect("automations:workflow", pk=workflow.pk)
    runs = workflows.rerun_on_current_version(workflow, documents, user=request.user)
    count = len(runs)
    messages.success(
        request,
        f"Running {count} document{'s' if count != 1 else ''} again "
        f"on version {workflow.current_version.number}.",
    )
    return redirect("automations:workflow", pk=workflow.pk)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@require_POST
@org_member("write")
def workflow_rename(request, pk: int):
    workflow = _workflow(request, pk)
    if not can_manage(request.membership):
        raise PermissionDenied("Only owners and admins rename workflows.")
    form = RenameForm(request.POST)
    name = form.cleaned_data["name"].strip() if form.is_valid() else ""
    if not name:
        messages.error(request, "Give the workflow a name.")
        return redirect("automations:workflow", pk=workflow.pk)
    old = workflow.name
    workflow.name = name
    workflow.save(update_fields=["name"])
    messages.success(request, f"Renamed {old} to {name}.")
    return redirect("automations:workflow", pk=workflow.pk)


@require_POST
@org_member("write")
def workflow_delete(request, pk: int):
    """Delete the workflow and its versions; its runs and documents stay (the runs keep
    their steps and outputs, without the link)."""
    workflow = _workflow(request, pk)
    if not can_manage(request.membership):
        raise PermissionDenied("Only owners and admins delete workflows.")
    name = workflow.name
    workflow.delete()
    messages.success(request, f"Deleted the workflow {name}. Its documents and runs are kept.")
    return redirect(reverse("automations:workflows"))
