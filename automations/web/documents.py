from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from automations import intake
from automations.documents import delete_document
from automations.engine.conditions import OPS
from automations.engine.masking import mask_secrets
from automations.engine.steps import all_steps
from automations.forms import UploadForm
from automations.models import Artifact, Document, Page, Run, StepRun, Workflow
from automations.runs import control
from automations.workflows import WorkflowError, start_workflow_run
from catalog.presentation import highlights, ordered_fields

PAGE_SIZE = 25


def _document(request, uid) -> Document:
    return get_object_or_404(Document.objects.for_org(request.org), uid=uid)


def _documents_page(request):
    documents = (
        Document.objects.for_org(request.org)
        .select_related("uploaded_by", "parent")
        .prefetch_related("runs")
    )
    return Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))


@org_member("view")
def document_list(request):
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not request.membership.can("write"):
            raise PermissionDenied("Viewers cannot upload documents.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            accepted, rejected = intake.ingest_many(
                request.org, form.cleaned_data["files"], user=request.user
            )
            if accepted:
                names = ", ".join(d.original_name for d in accepted[:3])
                more = f" and {len(accepted) - 3} more" if len(accepted) > 3 else ""
                messages.success(request, f"Uploaded {names}{more}. Reading them now.")
            if not rejected:
                return redirect("automations:documents")
            for rejection in rejected:
                form.add_error("files", str(rejection))
        status = 400
    return render(
        request,
        "automations/document_list.html",
        {"form": form, "page_obj": _documents_page(request)},
        status=status,
    )


@org_member("view")
def document_detail(request, uid):
    document = _document(request, uid)
    run = document.latest_run
    fields = (run.output_of("extract_fields") or {}) if run else {}
    pages = list(document.pages.all())
    for page in pages:
        page.highlights = highlights(fields.get("fields"), page.number, page.width, page.height)
    return render(
        request,
        "automations/document_detail.html",
        {
            "document": document,
            "run": run,
            "pages": pages,
            "attachments": document.attachments.all(),
            "steps": run.steps.all() if run else [],
            "doc_type": run.output_of("classify") if run else None,
            "fields": fields,
            "field_rows": ordered_fields(fields),
            "duplicates": run.output_of("similar_documents") if run else None,
            "artifacts": run.artifacts.order_by("created_at") if run else [],
        },
    )


@require_GET
@org_member("view")
def page_image(request, uid, number: int):
    page = get_object_or_404(Page, document=_document(request, uid), number=number)
    if not page.image:
        raise Http404("This page has no image.")
    response = FileResponse(page.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@org_member("view")
def document_file(request, uid):
    document = _document(request, uid)
    return FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.original_name,
        content_type=document.mime_type,
    )


@require_GET
@org_member("view")
def artifact_file(request, uid, artifact):
    """A file a step made for this document (a redacted PDF), through its organization."""
    found = get_object_or_404(Artifact, uid=artifact, run__document=_document(request, uid))
    return FileResponse(
        found.file.open("rb"),
        as_attachment=True,
        filename=found.name,
        content_type=found.content_type,
    )


@require_POST
@org_member("write")
def document_reprocess(request, uid):
    document = _document(request, uid)
    control.reprocess(document, user=request.user)
    messages.success(request, f"Reading {document.original_name} again.")
    return redirect("automations:document", uid=document.uid)


@require_POST
@org_member("write")
def document_delete(request, uid):
    document = _document(request, uid)
    name = document.original_name
    delete_document(document)
    messages.success(request, f"Deleted {name}.")
    return redirect("automations:documents")


# --- runs -----------------------------------------------------------------------------

MAX_SHOWN_JSON = 20_000  # characters of a step's input or output shown on the page


class RunFilterForm(forms.Form):
    """The run list's filters; every field is optional and a bad value is ignored."""

    workflow = forms.TypedChoiceField(required=False, coerce=str, label="Workflow")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Run.Status.choices], label="Status"
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    tests = forms.BooleanField(required=False, label="Include tests of drafts")

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "All workflows"), ("none", "No workflow (plain reading)")]
        choices += [(str(w.pk), w.name) for w in Workflow.objects.for_org(org).only("pk", "name")]
        self.fields["workflow"].choices = choices

    def filter(self, runs):
        self.is_valid()  # a bad value (a date that is not one) is shown and left out
        data = getattr(self, "cleaned_data", {})
        if not data.get("tests"):
            runs = runs.filter(is_test=False)
        workflow = data.get("workflow")
        if workflow == "none":
            runs = runs.filter(workflow__isnull=True)
        elif workflow:
            runs = runs.filter(workflow_id=int(workflow))
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        if data.get("since"):
            runs = runs.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            runs = runs.filter(created_at__date__lte=data["until"])
        return runs


def _runs(request):
    return Run.objects.for_org(request.org).select_related(
        "document", "triggered_by", "workflow", "workflow_version"
    )


def _run(request, pk: int) -> Run:
    return get_object_or_404(_runs(request), pk=pk)


def step_title(kind: str) -> str:
    """The name people see for a step kind ("Send to a webhook"), from its registry entry."""
    step = all_steps().get(kind)
    label = getattr(step, "label", "") if step is not None else ""
    return label or kind.replace("_", " ").capitalize()


def _step_key(spec: dict) -> str:
    return spec.get("id") or spec.get("step") or ""


def annotate_progress(run: Run) -> Run:
    """Add what a row shows while a run goes: steps done of all, and the step at work."""
    step_runs = list(run.steps.all())
    finished = (StepRun.Status.SUCCEEDED, StepRun.Status.SKIPPED)
    run.steps_total = max(len(run.pipeline or []), len(step_runs))
    run.steps_done = sum(1 for s in step_runs if s.status in finished)
    running = [s for s in step_runs if s.status == StepRun.Status.RUNNING]
    run.current_step = running[0] if running and run.is_active else None
    if run.status == Run.Status.SUCCEEDED or not run.steps_total:
        run.step_percent = 100 if run.status == Run.Status.SUCCEEDED else 0
    else:
        run.step_percent = round(100 * run.steps_done / run.steps_total)
    return run


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


def step_views(run: Run) -> list[dict]:
    """The run's steps in pipeline order, each with its StepRun (None while waiting) and
    what the page shows of its input and output."""
    by_id = {s.step_id: s for s in run.steps.all()}
    artifacts: dict[str, list[Artifact]] = {}
    for artifact in run.artifacts.order_by("created_at"):
        artifacts.setdefault(artifact.step_id, []).append(artifact)
    specs = [spec for spec in (run.pipeline or []) if isinstance(spec, dict)]
    known = {_step_key(spec) for spec in specs}
    # Steps that ran but are no longer in the pipeline (a retry on a newer version).
    specs += [{"id": s.step_id, "step": s.step} for s in by_id.values() if s.step_id not in known]
    rows = []
    for position, spec in enumerate(specs, start=1):
        key = _step_key(spec)
        step_run = by_id.get(key)
        kind = spec.get("step") or (step_run.step if step_run else "")
        output = step_run.output if step_run else {}
        rows.append(
            {
                "position": position,
                "id": key,
                "kind": kind,
                "title": step_title(kind),
                "run": step_run,
                "status": step_run.status if step_run else "waiting",
                "condition": describe_when(spec.get("when")),
                "otherwise_of": spec.get("otherwise_of"),
                "input": _pretty(mask_secrets(step_run.input))
                if step_run and step_run.input
                else "",
                "config": _pretty(mask_secrets(spec.get("config"))) if spec.get("config") else "",
                "fields": ordered_fields(output) if kind == "extract_fields" else [],
                "webhook_attempts": (output or {}).get("attempts") if kind == "webhook" else None,
                "output": _pretty(output) if output else "",
                "artifacts": artifacts.get(key, []),
            }
        )
    return rows


def describe_when(when) -> str:
    """A step's condition in words: 'type.label is "invoice" and fields.… is above 100'."""
    if not isinstance(when, dict):
        return ""
    parts = []
    for rule in when.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        op = rule.get("op", "is")
        words = f"{rule.get('ref', '?')} {OPS.get(op, op)}"
        if op not in ("is_empty", "is_not_empty"):
            words += f" {json.dumps(rule.get('value'), ensure_ascii=False)}"
        parts.append(words)
    joiner = " or " if when.get("match") == "any" else " and "
    return joiner.join(parts)


def _pretty(value) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_JSON:
        text = text[:MAX_SHOWN_JSON] + f"\n… ({len(text) - MAX_SHOWN_JSON} more characters)"
    return text


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
