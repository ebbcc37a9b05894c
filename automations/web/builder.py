"""The workflow builder: a page that edits a workflow's draft, and the JSON endpoints it calls.

The page (templates/automations/builder/builder.html + static/js/builder.js) keeps the
draft in the browser and saves it as you go; every save answers with the draft's problems
(automations.engine.pipeline.check_pipeline) so the page shows them next to the fields.
A test runs the draft on a worker (workflows.start_test_run); the page polls it and shows
each step's status, input, output, duration and log under the step.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_member
from automations import intake
from automations.engine.filetypes import FileRejected
from automations.engine.masking import (
    MASK,
    MaskedSecretLost,
    keep_draft_secrets,
    mask_secrets,
    scrub,
    secret_values,
)
from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import KINDS, StepConfigError, all_steps
from automations.models import Document, Run, StepRun, Workflow
from automations.pipelines import WORKFLOW_TEMPLATES
from automations.workflows import (
    WorkflowError,
    check_draft,
    create_workflow,
    last_test_run,
    publish,
    save_draft,
    start_test_run,
)
from catalog.registry import allowed_models
from pyq_site.inputs import InputError, load_json, optional_int

KIND_LABELS = {
    "read": ("Read", "Get the text out of the document."),
    "understand": ("Understand", "Decide what the document is and what it says."),
    "extract": ("Extract", "Pull out the values you need."),
    "transform": ("Transform", "Change the document or its data."),
    "deliver": ("Deliver", "Send the results where they are needed."),
}
# Short step ids read well in references ("fields.fields.total.value").
PREFERRED_IDS = {
    "extract_text": "text",
    "classify": "type",
    "extract_fields": "fields",
    "similar_documents": "duplicates",
    "summarize": "summary",
    "webhook": "send",
}
OPERATORS = [
    ("is", "is"),
    ("is_not", "is not"),
    ("contains", "contains"),
    ("at_least", "is at least"),
    ("at_most", "is at most"),
    ("above", "is above"),
    ("below", "is below"),
    ("is_empty", "is empty"),
    ("is_not_empty", "is not empty"),
]
SAMPLE_DOCUMENTS = 50  # the newest documents offered as test samples
MAX_REFS_PER_STEP = 300
PREVIEW_CHARS = 80
MAX_JSON_CHARS = 20_000
MAX_POSITION = 10_000  # ?position= of the references endpoint


# --- problems and references --------------------------------------------------------------


def draft_problems(spec: Any) -> list[dict]:
    """All the problems of a spec as {"step", "field", "message"} (engine's check_pipeline),
    or the first one parse_pipeline finds where check_pipeline is not there; a secret a
    message quotes ("'hunter2…' is too long") is masked."""
    secrets = secret_values(spec)
    return [
        {**problem, "message": scrub(str(problem.get("message", "")), secrets)}
        for problem in _draft_problems(spec)
    ]


def _draft_problems(spec: Any) -> list[dict]:
    try:
        from automations.engine.pipeline import check_pipeline
    except ImportError:
        check_pipeline = None
    if check_pipeline is not None:
        try:
            return list(check_pipeline(spec))
        except StepConfigError as exc:
            return [{"step": None, "field": None, "message": str(exc)}]
    try:
        parse_pipeline(spec)
    except StepConfigError as exc:
        return [{"step": _position_in(str(exc)), "field": None, "message": str(exc)}]
    return []


def _position_in(message: str) -> int | None:
    """The 0-based step a parse_pipeline message names ("Step 3: ..."), if it names one."""
    head = message.split(":", 1)[0]
    if not head.startswith("Step "):
        return None
    number = optional_int(head[5:], minimum=1)
    return None if number is None else number - 1


def flatten_outputs(outputs: dict[str, Any]) -> list[tuple[str, Any]]:
    try:
        from automations.engine.refs import flatten
    except ImportError:
        return list(_flatten(outputs, "", 6))
    return list(flatten(outputs))


def _flatten(value: Any, prefix: str, depth: int):
    if isinstance(value, dict) and depth > 0:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key), depth - 1)
    elif isinstance(value, list) and depth > 0:
        for index, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}.{index}" if prefix else str(index), depth - 1)
    elif prefix:
        yield prefix, value


def preview(value: Any) -> str:
    """A value as the picker shows it: short, one line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def test_outputs(run: Run | None) -> dict[str, list[dict]]:
    """Per step id, the references into its output in the test run, with preview values."""
    if run is None:
        return {}
    found: dict[str, list[dict]] = {}
    for step_run in run.steps.filter(status=StepRun.Status.SUCCEEDED):
        pairs = flatten_outputs({step_run.step_id: step_run.output or {}})
        found[step_run.step_id] = [
            {"ref": ref, "preview": preview(value)} for ref, value in pairs[:MAX_REFS_PER_STEP]
        ]
    return found


def reference_options(spec: list[dict], position: int, run: Run | None) -> list[dict]:
    """What a step at `position` can refer to: the earlier steps' outputs in the last test
    run (with their values), then the paths their kind usually has (output_hints)."""
    steps = all_steps()
    outputs = test_outputs(run)
    options: list[dict] = []
    for item in spec[: max(position, 0)]:
        if not isinstance(item, dict):
            continue
        step_id = item.get("id") or item.get("step")
        if not isinstance(step_id, str):
            continue
        seen = set()
        for entry in outputs.get(step_id, []):
            seen.add(entry["ref"])
            options.append({**entry, "step": step_id, "source": "test"})
        step = steps.get(item.get("step"))
        for hint in _hints(step, item.get("config")) if step else []:
            ref = f"{step_id}.{hint}"
            if ref not in seen and "<" not in hint:
                seen.add(ref)
                options.append({"ref": ref, "preview": "", "step": step_id, "source": "hint"})
    return options


def _hints(step, config: Any) -> list[str]:
    try:
        from automations.engine.refs import output_hints
    except ImportError:
        return list(getattr(step, "output_hints", None) or [])
    return output_hints(step, config if isinstance(config, dict) else {})


# --- the library --------------------------------------------------------------------------


def step_library(org=None) -> list[dict]:
    """The steps a workflow can use, grouped by kind, with what the form needs; `model` and
    `classifier` settings offer the models ``org`` may choose (catalog.registry), as a list."""
    steps = all_steps()
    choices = allowed_models(org)
    groups = []
    for kind in KINDS:
        label, blurb = KIND_LABELS.get(kind, (kind.capitalize(), ""))
        members = sorted(
            (s for s in steps.values() if s.kind == kind), key=lambda s: s.label.casefold()
        )
        groups.append(
            {
                "kind": kind,
                "label": label,
                "description": blurb,
                "steps": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "label": s.label,
                        "description": s.description,
                        "schema": _with_model_choices(s.config_schema, choices),
                        "hints": list(getattr(s, "output_hints", None) or []),
                        "preferred_id": PREFERRED_IDS.get(s.name, s.name),
                    }
                    for s in members
                ],
            }
        )
    return groups


def _with_model_choices(schema: dict, choices) -> dict:
    """The schema with the model settings' choices as an enum (the builder shows a list)."""
    properties = schema.get("properties", {})
    if "model" not in properties and "classifier" not in properties:
        return schema
    properties = dict(properties)
    if "model" in properties:
        properties["model"] = {**properties["model"], "enum": list(choices.embedders)}
    if "classifier" in properties:
        properties["classifier"] = {
            **properties["classifier"],
            "enum": [None, *choices.classifiers],
        }
    return {**schema, "properties": properties}


def preset_fields() -> dict[str, list[str]]:
    """Field names of extract_fields' presets, to expand "fields.<name>.value" hints."""
    try:
        from automations.engine.fields import PRESETS
    except ImportError:
        return {}
    return {name: [spec.name for spec in specs] for name, specs in PRESETS.items()}


# --- helpers ------------------------------------------------------------------------------


def _workflow(request, pk: int) -> Workflow:
    return get_object_or_404(Workflow.objects.for_org(request.org), pk=pk)


def _test_run(workflow: Workflow, pk: int) -> Run:
    return get_object_or_404(
        Run.objects.for_org(workflow.organization).select_related("document"),
        pk=pk,
        workflow=workflow,
        is_test=True,
    )


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # a page another part of the dashboard may not have yet
        return None


def _json_body(request) -> Any:
    """The body as JSON (None when empty); InputError says why it cannot be used (not
    JSON, nested too deeply, a number too large; pyq_site.inputs)."""
    return load_json(request.body or b"null", what="The body")


def _published(workflow: Workflow) -> dict | None:
    version = workflow.current_version
    if version is None:
        return None
    return {
        "number": version.number,
        "published_at": version.published_at.isoformat(),
        "changed": version.spec != workflow.draft,
    }


def _scrubbed(exc: Exception, spec: Any) -> str:
    """An error about a draft, without the secrets it may quote."""
    return scrub(str(exc), secret_values(spec))


def _bad(message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=400)


# --- pages --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@org_member("write")
def builder_new(request):
    """Choose a template (or blank); POST creates the workflow and opens its builder."""
    error = ""
    if request.method == "POST":
        key = request.POST.get("template", "")
        name = request.POST.get("name", "").strip()
        try:
            if key == "blank":
                workflow = create_workflow(
                    request.org, name or "Untitled workflow", user=request.user
                )
            elif key in WORKFLOW_TEMPLATES:
                template = WORKFLOW_TEMPLATES[key]
                workflow = create_workflow(
                    request.org,
                    name or template["name"],
                    user=request.user,
                    steps=template["steps"],
                )
            else:
                raise WorkflowError("Choose a template or start from blank.")
        except WorkflowError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Created {workflow.name}. Add and configure its steps.")
            return redirect("automations:builder", pk=workflow.pk)
    labels = {s.name: s.label for s in all_steps().values()}
    templates = [
        {
            "key": key,
            "name": t["name"],
            "description": t["description"],
            "steps": [labels.get(s["step"], s["step"]) for s in t["steps"]],
        }
        for key, t in WORKFLOW_TEMPLATES.items()
    ]
    return render(
        request,
        "automations/builder/new.html",
        {"templates": templates, "error": error},
        status=400 if error else 200,
    )


@require_GET
@org_member("view")
def builder(request, pk: int):
    workflow = _workflow(request, pk)
    can_edit = request.membership.can("write")
    last = last_test_run(workflow)
    documents = Document.objects.for_org(request.org).only("uid", "original_name", "created_at")[
        :SAMPLE_DOCUMENTS
    ]
    boot = {
        "workflow": {"id": workflow.pk, "name": workflow.name},
        # Secrets never reach the page, whatever the role: a masked value saved back keeps the
        # stored one (builder_draft), so editors leave it as is to keep it.
        "draft": mask_secrets(workflow.draft),
        "mask": MASK,
        "canEdit": can_edit,
        "library": step_library(request.org),
        "operators": OPERATORS,
        "presetFields": preset_fields(),
        "problems": draft_problems(workflow.draft),
        "published": _published(workflow),
        "testRun": last.pk if last else None,
        "urls": {
            "draft": reverse("automations:builder_draft", args=[workflow.pk]),
            "references": reverse("automations:builder_references", args=[workflow.pk]),
            "test": reverse("automations:builder_test", args=[workflow.pk]),
            "testRun": reverse("automations:builder_test_run", args=[workflow.pk, 0]),
            "publish": reverse("automations:builder_publish", args=[workflow.pk]),
        },
    }
    return render(
        request,
        "automations/builder/builder.html",
        {
            "workflow": workflow,
            "boot": boot,
            "can_edit": can_edit,
            "documents": documents,
            "workflow_url": _url("automations:workflow", workflow.pk),
        },
    )


# --- JSON endpoints -----------------------------------------------------------------------


@require_POST
@org_member("write")
def builder_draft(request, pk: int):
    """Save the draft as it is (complete or not) and answer with its problems.

    Body: {"steps": [...], "name": "..." (optional)}."""
    workflow = _workflow(request, pk)
    try:
        body = _json_body(request)
    except InputError as exc:
        return _bad(str(exc))
    if not isinstance(body, dict) or "steps" not in body:
        return _bad('Send the draft as JSON: {"steps": [...]}.')
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        return _bad("Give the workflow a name.", field="name")
    steps = body["steps"]
    try:
        if isinstance(steps, list):  # a masked secret that comes back keeps the stored one
            steps = keep_draft_secrets(steps, workflow.draft)
    except MaskedSecretLost as exc:
        return _bad(str(exc))
    try:
        with transaction.atomic():
            save_draft(workflow, steps, user=request.user)
            if name is not None and name.strip()[:120] != workflow.name:
                workflow.name = name.strip()[:120]
                workflow.save(update_fields=["name"])
    except WorkflowError as exc:
        return _bad(str(exc))
    return JsonResponse(
        {
            "saved_at": workflow.draft_updated_at.isoformat(),
            "problems": draft_problems(workflow.draft),
            "published": _published(workflow),
        }
    )


@require_GET
@org_member("view")
def builder_library(request, pk: int):
    _workflow(request, pk)
    return JsonResponse({"kinds": step_library(request.org)})


@require_GET
@org_member("view")
def builder_references(request, pk: int):
    """References earlier steps offer, with previews from the last test run.

    With ?position=N: the options for the step at N (0-based) in the saved draft. Without:
    every step's test outputs by step id (the page filters them as steps move)."""
    workflow = _workflow(request, pk)
    run = last_test_run(workflow)
    position = request.GET.get("position")
    if position is None:
        return JsonResponse({"test_run": run.pk if run else None, "outputs": test_outputs(run)})
    number = optional_int(position, minimum=0, maximum=MAX_POSITION)
    if number is None:
        return _bad("position is a step number from 0.")
    options = reference_options(workflow.draft, number, run)
    return JsonResponse({"test_run": run.pk if run else None, "options": options})


@require_POST
@org_member("write")
def builder_test(request, pk: int):
    """Run the draft on a sample: one of the organization's documents (`document`, its uid)
    or a file uploaded here (`file`). Answers with the run to poll."""
    workflow = _workflow(request, pk)
    try:
        check_draft(workflow)
    except WorkflowError as exc:
        return _bad(_scrubbed(exc, workflow.draft), problems=draft_problems(workflow.draft))
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            with transaction.atomic():
                # Stored like any upload, but read by the test alone, not the default reading.
                document = intake.ingest(
                    request.org,
                    upload,
                    upload.name,
                    user=request.user,
                    declared_size=upload.size,
                    enqueue=False,
                )
                document.runs.all().delete()
                run = start_test_run(workflow, document, user=request.user)
        except FileRejected as exc:
            return _bad(f"{upload.name}: {exc}", field="file")
    else:
        uid = request.POST.get("document", "")
        document = Document.objects.for_org(request.org).filter(uid=_uuid(uid)).first()
        if document is None:
            return _bad("Choose a sample document or upload one.", field="document")
        run = start_test_run(workflow, document, user=request.user)
    return JsonResponse(
        {
            "run": run.pk,
            "poll": reverse("automations:builder_test_run", args=[workflow.pk, run.pk]),
            "document": {"uid": str(document.uid), "name": document.original_name},
        },
        status=201,
    )


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@require_GET
@org_member("view")
def builder_test_run(request, pk: int, run_pk: int):
    """A test run as the page shows it: a summary and each step's result, as HTML pieces."""
    workflow = _workflow(request, pk)
    run = _test_run(workflow, run_pk)
    step_runs = {s.step_id: s for s in run.steps.all()}
    steps = {}
    for position, item in enumerate(run.pipeline):
        step_id = item.get("id") or item.get("step")
        step_run = step_runs.get(step_id)
        status = step_run.status if step_run else ("waiting" if run.is_active else "not_run")
        steps[step_id] = {
            "status": status,
            "html": render_to_string(
                "automations/builder/_step_result.html",
                {"step_run": step_run, "status": status, "run": run, "position": position}
                | _result_context(step_run),
                request=request,
            ),
        }
    summary = render_to_string(
        "automations/builder/_test_summary.html",
        {"run": run, "run_url": _url("automations:run", run.pk)},
        request=request,
    )
    return JsonResponse(
        {
            "run": run.pk,
            "status": run.status,
            "active": run.is_active,
            "summary": summary,
            "steps": steps,
        }
    )


def _result_context(step_run: StepRun | None) -> dict:
    if step_run is None:
        return {}
    output = step_run.output or {}
    fields = output.get("fields") if isinstance(output.get("fields"), dict) else None
    field_rows = (
        [
            (name, f)
            for name, f in fields.items()
            if isinstance(f, dict) and ("value" in f or "confidence" in f)
        ]
        if fields
        else []
    )
    scalars = [
        (key, value if isinstance(value, str) else json.dumps(value))
        for key, value in output.items()
        if isinstance(value, str | int | float | bool) or value is None
    ]
    return {
        "field_rows": field_rows,
        "scalars": scalars,
        "output_json": _pretty(output),
        "input_json": _pretty(mask_secrets(step_run.input)) if step_run.input else "",
    }


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_JSON_CHARS else text[:MAX_JSON_CHARS] + "\n…"


@require_POST
@org_member("write")
def builder_publish(request, pk: int):
    """Publish the draft as the next version; a draft with problems lists them instead."""
    workflow = _workflow(request, pk)
    try:
        body = _json_body(request) if request.content_type == "application/json" else None
    except InputError as exc:
        return _bad(str(exc))
    note = body.get("note", "") if isinstance(body, dict) else request.POST.get("note", "")
    if not isinstance(note, str):
        return _bad("The note is text.", field="note")
    try:
        version = publish(workflow, user=request.user, note=note)
    except WorkflowError as exc:
        return _bad(_scrubbed(exc, workflow.draft), problems=draft_problems(workflow.draft))
    workflow.refresh_from_db()
    return JsonResponse(
        {
            "version": version.number,
            "message": f"Published version {version.number}. New documents run through it.",
            "workflow_url": _url("automations:workflow", workflow.pk),
            "published": _published(workflow),
        }
    )


urlpatterns = [
    path("workflows/new/", builder_new, name="builder_new"),
    path("workflows/<int:pk>/builder/", builder, name="builder"),
    path("workflows/<int:pk>/builder/draft", builder_draft, name="builder_draft"),
    path("workflows/<int:pk>/builder/library", builder_library, name="builder_library"),
    path("workflows/<int:pk>/builder/references", builder_references, name="builder_references"),
    path("workflows/<int:pk>/builder/test", builder_test, name="builder_test"),
    path(
        "workflows/<int:pk>/builder/test/<int:run_pk>",
        builder_test_run,
        name="builder_test_run",
    ),
    path("workflows/<int:pk>/builder/publish", builder_publish, name="builder_publish"),
]
