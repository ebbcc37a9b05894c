"""A workflow's ways in over HTTP: its secret web address (/hooks/<token>, no session, no
CSRF token; the secret in the address is the key) and the test address beside it, and the
workflow page's buttons that add, pause, resume and change that address.

The endpoint takes files (multipart, any field names) or JSON: {"text": "...", "name": "..."}
or {"url": "https://..."}; it answers 202 with the documents and runs it started, and every
refusal as {"error": {"code", "message"}} with a 4xx status. The rules are in
automations/triggers.py; this module speaks HTTP only.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.decorators import org_member
from automations import triggers
from automations.models import Trigger
from automations.triggers import TriggerRefused
from automations.web.workflows import can_manage, workflow_with_version
from pyq_site.inputs import InputError, load_json
from pyq_site.limits import OversizeUpload, one_file_message

MULTIPART = "multipart/form-data"


# --- the endpoint -------------------------------------------------------------------------


@csrf_exempt
@require_POST
def hook(request: HttpRequest, token: str) -> JsonResponse:
    """Start the workflow's published version on what was sent."""
    return _answer(request, token, test=False)


@csrf_exempt
@require_POST
def hook_test(request: HttpRequest, token: str) -> JsonResponse:
    """Run the workflow's draft on what was sent, as the builder's test does (test runs)."""
    return _answer(request, token, test=True)


def _answer(request: HttpRequest, token: str, *, test: bool) -> JsonResponse:
    files: list = []
    try:
        trigger = triggers.resolve_webhook(token, test=test)
        files = _files_of(request)
        started = triggers.start_from_trigger(trigger, files, test=test)
    except TriggerRefused as exc:
        return _error(exc.status, exc.code, str(exc))
    finally:
        for file in files:
            file.close()
    if not started.documents:
        reasons = "; ".join(str(r) for r in started.rejected) or "Nothing was sent."
        return _error(422, "file_rejected", reasons)
    return JsonResponse(
        {
            "documents": [{"uid": str(d.uid), "name": d.original_name} for d in started.documents],
            "runs": [
                {"id": r.pk, "status": r.status, "test": r.is_test, "version": _number(r)}
                for r in started.runs
            ],
            "rejected": [{"name": r.filename, "message": r.message} for r in started.rejected],
        },
        status=202,
    )


def _files_of(request: HttpRequest) -> list:
    """The files of a multipart body, or the one file a JSON body's text or URL makes."""
    if request.content_type == MULTIPART:
        files = [f for name in request.FILES for f in request.FILES.getlist(name)]
        if not files:
            raise TriggerRefused(400, "no_file", "Send a file, or JSON with text or a url.")
        if any(isinstance(f, OversizeUpload) for f in files):
            raise TriggerRefused(413, "too_large", one_file_message())
        return files
    try:
        body = load_json(request.body or b"")
    except InputError as exc:
        raise TriggerRefused(400, "bad_json", str(exc)) from None
    if not isinstance(body, dict):
        raise TriggerRefused(400, "bad_json", 'Send a JSON object: {"text": ...} or {"url": ...}.')
    text, url, name = body.get("text"), body.get("url"), body.get("name", "")
    if not isinstance(name, str):
        raise TriggerRefused(400, "bad_json", '"name" must be text.')
    if isinstance(text, str) and text.strip() and url is None:
        return [triggers.text_file(text, name)]
    if isinstance(url, str) and url.strip() and text is None:
        return [triggers.fetch_url(url.strip())]
    raise TriggerRefused(
        400, "bad_json", 'Send either "text" (the text itself) or "url" (a file to fetch).'
    )


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _number(run) -> int | None:
    return run.workflow_version.number if run.workflow_version else None


# --- the workflow page's buttons ----------------------------------------------------------


def _trigger_or_404(request: HttpRequest, pk: int, trigger_pk: int) -> Trigger:
    workflow = workflow_with_version(request, pk)
    return get_object_or_404(
        Trigger.objects.for_org(request.org).select_related("workflow"),
        pk=trigger_pk,
        workflow=workflow,
    )


@require_POST
@org_member("write")
def trigger_add(request: HttpRequest, pk: int):
    """Give the workflow a web address that documents can be sent to."""
    workflow = workflow_with_version(request, pk)
    if triggers.webhook_of(workflow) is None:
        triggers.create_trigger(workflow, Trigger.Kind.WEBHOOK, user=request.user)
        messages.success(request, "Programs can now send files to the address below.")
    return redirect("automations:workflow", pk=workflow.pk)


PAUSE_MESSAGES = {
    True: "Paused: calls to this address are refused until you resume it.",
    False: "Resumed: files sent to this address run again.",
}


@require_POST
@org_member("write")
def trigger_pause(request: HttpRequest, pk: int, trigger_pk: int):
    return _set_paused(request, pk, trigger_pk, paused=True)


@require_POST
@org_member("write")
def trigger_resume(request: HttpRequest, pk: int, trigger_pk: int):
    return _set_paused(request, pk, trigger_pk, paused=False)


def _set_paused(request: HttpRequest, pk: int, trigger_pk: int, *, paused: bool):
    triggers.set_paused(_trigger_or_404(request, pk, trigger_pk), paused)
    messages.success(request, PAUSE_MESSAGES[paused])
    return redirect("automations:workflow", pk=pk)


@require_POST
@org_member("write")
def trigger_rotate(request: HttpRequest, pk: int, trigger_pk: int):
    """A new secret address; the old one stops at once, so only owners and admins may."""
    trigger = _trigger_or_404(request, pk, trigger_pk)
    if not can_manage(request.membership):
        raise PermissionDenied("Only owners and admins change a workflow's address.")
    triggers.rotate_token(trigger)
    messages.success(
        request, "The address changed. The old one no longer works: give senders the new one."
    )
    return redirect("automations:workflow", pk=pk)
