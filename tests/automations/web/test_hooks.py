"""A workflow's web address, /hooks/<token> (automations/web/hooks.py, issue 11): no
session and no CSRF token, a file or JSON (text, or a URL to fetch) in, 202 with the
documents and runs out; refusals as {"error": {"code", "message"}} with a 4xx status and
nothing stored. And the workflow page's "Ways in": the address, pause, resume, change,
by role; another organization's user gets a 404."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from automations import triggers
from automations.models import Document, Run, Trigger
from automations.workflows import create_workflow
from tests.automations.helpers import stored_files, upload, url
from tests.factories import READ, SORT
from tests.loopback import Receiver

INVOICE = b"Invoice 4721 from Acme, total 120.00 EUR"


@pytest.fixture
def hook(published_workflow, owner) -> Trigger:
    return triggers.create_trigger(published_workflow, Trigger.Kind.WEBHOOK, user=owner.user)


@pytest.fixture
def anonymous() -> Client:
    return Client(enforce_csrf_checks=True)


def hook_url(trigger: Trigger, test: bool = False) -> str:
    return reverse("automations:hook_test" if test else "automations:hook", args=[trigger.token])


def post_json(client: Client, path: str, body) -> object:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def assert_nothing_stored() -> None:
    assert not Document.objects.exists()
    assert not Run.objects.exists()
    assert not stored_files()


# --- the endpoint -------------------------------------------------------------------------


def test_a_file_starts_the_published_version(anonymous, hook, sent):
    response = anonymous.post(hook_url(hook), {"file": upload("invoice.txt", INVOICE)})
    assert response.status_code == 202, response.content
    body = response.json()
    document = Document.objects.get()
    run = Run.objects.get()
    assert body["documents"] == [{"uid": str(document.uid), "name": "invoice.txt"}]
    assert body["runs"] == [{"id": run.pk, "status": "queued", "test": False, "version": 1}]
    assert run.trigger == Run.Trigger.WEBHOOK
    assert run.trigger_ref == hook
    assert document.organization == hook.organization


def test_several_files_each_start_a_run(anonymous, hook, sent):
    files = [upload("a.txt", INVOICE), upload("b.txt", INVOICE + b" again")]
    response = anonymous.post(hook_url(hook), {"file": files})
    assert response.status_code == 202
    assert len(response.json()["runs"]) == 2
    assert Run.objects.count() == 2


def test_json_text_is_stored_as_a_text_file(anonymous, hook, sent):
    response = post_json(
        anonymous, hook_url(hook), {"text": "Invoice 12, total 5 EUR", "name": "note"}
    )
    assert response.status_code == 202, response.content
    document = Document.objects.get()
    assert document.original_name == "note.txt"
    assert document.kind == "txt"
    assert document.file.read() == b"Invoice 12, total 5 EUR"


def test_a_url_is_fetched_through_the_hardened_client(
    anonymous, hook, receiver: Receiver, settings, sent
):
    settings.PYQ_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback
    receiver.answer(200, body=INVOICE)
    response = post_json(anonymous, hook_url(hook), {"url": f"{receiver.url}/files/invoice.txt"})
    assert response.status_code == 202, response.content
    document = Document.objects.get()
    assert document.original_name == "invoice.txt"
    assert document.file.read() == INVOICE
    assert receiver.requests[0]["path"] == "/files/invoice.txt"


def test_a_redirect_is_followed_and_checked_again(anonymous, hook, receiver, settings, sent):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    receiver.answers.append((302, {"Location": "/real/invoice.txt"}, b""))
    receiver.answer(200, body=INVOICE)
    response = post_json(anonymous, hook_url(hook), {"url": f"{receiver.url}/short"})
    assert response.status_code == 202, response.content
    assert [r["path"] for r in receiver.requests] == ["/short", "/real/invoice.txt"]
    assert Document.objects.get().original_name == "invoice.txt"


def test_a_file_larger_than_a_form_is_taken_without_a_login(anonymous, hook, settings, sent):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # the anonymous limit of pages (ADR 25)
    data = INVOICE + b" " + b"line of text\n" * 400
    response = anonymous.post(hook_url(hook), {"file": upload("long.txt", data)})
    assert response.status_code == 202, response.content
    assert Document.objects.get().size == len(data)


def test_a_private_url_is_refused_unless_the_deployment_allows_it(
    anonymous, hook, receiver, settings, sent
):
    settings.PYQ_ALLOW_PRIVATE_URLS = False
    response = post_json(anonymous, hook_url(hook), {"url": f"{receiver.url}/invoice.txt"})
    error = assert_error(response, 422, "url_refused")
    assert "private network" in error["message"]
    assert receiver.requests == []
    assert_nothing_stored()


def test_a_url_past_the_upload_limit_is_refused(anonymous, hook, receiver, settings, sent):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    settings.PYQ_MAX_UPLOAD_MB = 1
    receiver.answer(200, body=b"x" * (1024 * 1024 + 1))
    response = post_json(anonymous, hook_url(hook), {"url": f"{receiver.url}/big.txt"})
    assert_error(response, 413, "too_large")
    assert_nothing_stored()


def test_a_url_that_answers_an_error_is_refused(anonymous, hook, receiver, settings, sent):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    receiver.answer(404)
    response = post_json(anonymous, hook_url(hook), {"url": f"{receiver.url}/gone.txt"})
    error = assert_error(response, 422, "url_refused")
    assert "404" in error["message"]
    assert_nothing_stored()


def test_a_file_past_the_upload_limit_is_refused(anonymous, hook, settings, sent):
    settings.PYQ_MAX_UPLOAD_MB = 1
    response = anonymous.post(hook_url(hook), {"file": upload("big.txt", b"x" * (1024 * 1024 + 1))})
    assert_error(response, 413, "too_large")
    assert_nothing_stored()


def test_a_json_body_past_the_form_limit_is_refused(anonymous, hook, settings, sent):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post_json(anonymous, hook_url(hook), {"text": "x" * 2000})
    assert_error(response, 413, "too_large")
    assert_nothing_stored()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        {"text": ""},
        {"text": "a", "url": "https://example.com/a.pdf"},
        {"url": 12},
        {"text": "a", "name": 3},
        "",
    ],
)
def test_bad_json_is_refused(anonymous, hook, body, sent):
    assert_error(post_json(anonymous, hook_url(hook), body), 400, "bad_json")
    assert_nothing_stored()


def test_a_multipart_body_without_a_file_is_refused(anonymous, hook, sent):
    assert_error(anonymous.post(hook_url(hook), {"note": "hi"}), 400, "no_file")


def test_a_file_refused_by_its_content_is_said(anonymous, hook, sent):
    response = anonymous.post(hook_url(hook), {"file": upload("empty.txt", b"")})
    error = assert_error(response, 422, "file_rejected")
    assert "empty" in error["message"]
    assert_nothing_stored()


def test_an_unknown_token_is_a_404_in_json(anonymous, db, sent):
    response = anonymous.post("/hooks/nope", {"file": upload("invoice.txt", INVOICE)})
    assert_error(response, 404, "unknown_trigger")
    assert_nothing_stored()


def test_a_paused_trigger_is_refused(anonymous, hook, sent):
    triggers.set_paused(hook, True)
    response = anonymous.post(hook_url(hook), {"file": upload("invoice.txt", INVOICE)})
    error = assert_error(response, 423, "paused")
    assert "resumed" in error["message"]
    assert_nothing_stored()


def test_a_workflow_without_a_published_version_is_refused(anonymous, workflow, sent):
    trigger = triggers.create_trigger(workflow, Trigger.Kind.WEBHOOK)
    response = anonymous.post(hook_url(trigger), {"file": upload("invoice.txt", INVOICE)})
    assert_error(response, 409, "not_published")
    assert_nothing_stored()


def test_the_old_token_stops_working_when_rotated(anonymous, hook, sent):
    old = hook_url(hook)
    triggers.rotate_token(hook)
    assert_error(post_json(anonymous, old, {"text": "hi"}), 404, "unknown_trigger")
    assert post_json(anonymous, hook_url(hook), {"text": "hi"}).status_code == 202


def test_the_test_address_runs_the_draft(anonymous, owner, sent):
    flow = create_workflow(owner.org, "Drafty", user=owner.user, steps=[READ, SORT])
    trigger = triggers.create_trigger(flow, Trigger.Kind.WEBHOOK)
    response = anonymous.post(hook_url(trigger, test=True), {"file": upload("a.txt", INVOICE)})
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert response.json()["runs"] == [
        {"id": run.pk, "status": "queued", "test": True, "version": None}
    ]
    assert run.is_test
    assert run.pipeline == flow.draft
    assert run.trigger_ref == trigger
    assert flow.versions.count() == 0


def test_the_test_address_refuses_a_draft_that_cannot_run(anonymous, owner, sent):
    flow = create_workflow(
        owner.org, "Broken", user=owner.user, steps=[{"id": "x", "step": "nope"}]
    )
    trigger = triggers.create_trigger(flow, Trigger.Kind.WEBHOOK)
    response = anonymous.post(hook_url(trigger, test=True), {"file": upload("a.txt", INVOICE)})
    assert_error(response, 409, "draft_not_ready")
    assert_nothing_stored()


def test_get_is_not_allowed(anonymous, hook):
    assert anonymous.get(hook_url(hook)).status_code == 405


# --- the workflow page --------------------------------------------------------------------


def test_the_page_shows_the_address_with_a_copy_button(owner, published_workflow, hook):
    page = owner.client.get(url("workflow", published_workflow.pk)).content.decode()
    assert "Ways in" in page
    assert f"/hooks/{hook.token}" in page
    assert 'data-copy="#hook-url"' in page
    assert "js/copy.js" in page
    assert url("trigger_pause", published_workflow.pk, hook.pk) in page
    triggers.set_paused(hook, True)
    page = owner.client.get(url("workflow", published_workflow.pk)).content.decode()
    assert "Paused — calls are refused" in page
    assert url("trigger_resume", published_workflow.pk, hook.pk) in page


def test_viewers_see_the_address_but_no_buttons(viewer, published_workflow, hook):
    page = viewer.client.get(url("workflow", published_workflow.pk)).content.decode()
    assert f"/hooks/{hook.token}" in page
    assert url("trigger_pause", published_workflow.pk, hook.pk) not in page
    assert url("trigger_rotate", published_workflow.pk, hook.pk) not in page


def test_a_member_adds_pauses_and_resumes_but_only_managers_change_the_address(
    member, owner, published_workflow
):
    pk = published_workflow.pk
    assert member.client.post(url("trigger_add", pk)).status_code == 302
    member.client.post(url("trigger_add", pk))  # a second click adds nothing
    trigger = Trigger.objects.get()
    assert trigger.kind == Trigger.Kind.WEBHOOK
    assert trigger.created_by == member.user
    member.client.post(url("trigger_pause", pk, trigger.pk))
    trigger.refresh_from_db()
    assert trigger.paused
    member.client.post(url("trigger_resume", pk, trigger.pk))
    token = trigger.token
    page = member.client.get(url("workflow", pk)).content.decode()
    assert url("trigger_rotate", pk, trigger.pk) not in page
    assert member.client.post(url("trigger_rotate", pk, trigger.pk)).status_code == 403
    trigger.refresh_from_db()
    assert trigger.token == token  # the old address still works
    owner_page = owner.client.get(url("workflow", pk)).content.decode()
    assert url("trigger_rotate", pk, trigger.pk) in owner_page
    owner.client.post(url("trigger_rotate", pk, trigger.pk))
    trigger.refresh_from_db()
    assert not trigger.paused
    assert trigger.token != token


@pytest.mark.parametrize("action", ["trigger_pause", "trigger_resume", "trigger_rotate"])
def test_a_viewer_cannot_change_a_trigger(viewer, published_workflow, hook, action):
    response = viewer.client.post(url(action, published_workflow.pk, hook.pk))
    assert response.status_code == 403
    assert Trigger.objects.get() == hook
    hook_now = Trigger.objects.get()
    assert (hook_now.token, hook_now.paused) == (hook.token, hook.paused)


def test_a_viewer_cannot_add_one(viewer, published_workflow):
    assert viewer.client.post(url("trigger_add", published_workflow.pk)).status_code == 403
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("action", ["trigger_pause", "trigger_resume", "trigger_rotate"])
def test_another_organization_cannot_see_or_change_a_trigger(
    outsider, published_workflow, hook, action
):
    response = outsider.client.post(url(action, published_workflow.pk, hook.pk))
    assert response.status_code == 404
    assert outsider.client.post(url("trigger_add", published_workflow.pk)).status_code == 404
    assert outsider.client.get(url("workflow", published_workflow.pk)).status_code == 404
    hook_now = Trigger.objects.get()
    assert (hook_now.token, hook_now.paused) == (hook.token, hook.paused)


def test_a_trigger_of_another_workflow_is_a_404(owner, published_workflow, hook):
    other = create_workflow(owner.org, "Other", user=owner.user, steps=[READ])
    response = owner.client.post(url("trigger_pause", other.pk, hook.pk))
    assert response.status_code == 404
