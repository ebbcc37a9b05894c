"""Workflow pages: the list, a workflow's overview (upload, runs), re-running documents,
renaming and deleting. Its history and restoring a version are in workflow_history.py, its
export in workflow_export.py.

Everything is fetched through ``request.org``: another organization's workflow is a 404.
Viewers read; members upload, re-run and restore; owners and admins rename and delete.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from accounts.models import Role
from automations import intake, triggers, workflows
from automations.models import Document, Run, Workflow
from automations.web.forms import ExportForm, RenameForm, UploadForm
from automations.web.presentation import annotate_progress, step_chain

PAGE_SIZE = 25
MANAGERS = (Role.OWNER, Role.ADMIN)


def workflow_with_version(request, pk: int) -> Workflow:
    """The organization's workflow ``pk`` with its current version; a 404 for any other."""
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
    workflow = workflow_with_version(request, pk)
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
        }
        | ways_in(request, workflow),
        status=status,
    )


def ways_in(request, workflow: Workflow) -> dict:
    """The workflow's web address for the page's "Ways in" section, with its test address."""
    webhook = triggers.webhook_of(workflow)
    if webhook is None:
        return {"webhook": None}
    return {
        "webhook": webhook,
        "hook_url": request.build_absolute_uri(reverse("automations:hook", args=[webhook.token])),
        "hook_test_url": request.build_absolute_uri(
            reverse("automations:hook_test", args=[webhook.token])
        ),
    }


@require_POST
@org_member("write")
def workflow_rerun(request, pk: int):
    """Run the chosen documents (``document`` uids), or all of them (``all``), through the
    workflow's current version."""
    workflow = workflow_with_version(request, pk)
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
    workflow = workflow_with_version(request, pk)
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
    workflow = workflow_with_version(request, pk)
    if not can_manage(request.membership):
        raise PermissionDenied("Only owners and admins delete workflows.")
    name = workflow.name
    workflow.delete()
    messages.success(request, f"Deleted the workflow {name}. Its documents and runs are kept.")
    return redirect(reverse("automations:workflows"))
