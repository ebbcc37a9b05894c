"""Secrets are never sent to a page: one masking rule (automations/engine/masking.py) for the
builder's data, step inputs, the run page, the builder's test results and the history's JSON.
A masked value saved back keeps the stored secret."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from automations.engine.masking import (
    MASK,
    MaskedSecretLost,
    is_secret_key,
    keep_draft_secrets,
    mask_secrets,
)
from automations.engine.pipeline import input_of, parse_pipeline
from automations.models import Run, StepRun, Workflow
from automations.workflows import create_workflow, publish, save_draft
from tests.automations.helpers import boot_data, make_document
from tests.factories import READ

SECRET = "whsec-hunter2-7f3a9c"
TOKEN = "tok-5be1d0-very-private"
SEND = {
    "id": "send",
    "step": "webhook",
    "config": {"url": "https://hooks.example.com/pyq", "secret": SECRET},
}


@pytest.fixture
def secret_workflow(owner) -> Workflow:
    """A draft that reads the text and sends it to a webhook with a secret."""
    return create_workflow(owner.org, "Invoices", user=owner.user, steps=[READ, SEND])


def save(persona, workflow, steps):
    return persona.client.post(
        reverse("automations:builder_draft", args=[workflow.pk]),
        json.dumps({"steps": steps}),
        content_type="application/json",
    )


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "secret",
        "signing_key",
        "key",
        "apiKey",
        "api_key",
        "APIKEY",
        "X-Api-Key",
        "client_secret",
        "accessToken",
        "refresh-token",
        "Authorization",
        "password",
        "db_passwd",
        "smtpPassword",
        "apitoken",
        "auth",
        "credentials",
    ],
)
def test_keys_that_name_a_secret(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["keywords", "monkey", "max_tokens", "keys", "labels", "author", "url", "payload", "threshold"],
)
def test_keys_that_do_not(key):
    assert not is_secret_key(key)


def test_masking_reaches_nested_keys_lists_and_urls_and_leaves_the_rest():
    config = {
        "url": "https://hooks.example.com/x",
        "headers": {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        "targets": [{"name": "a", "api_key": "k-123456"}],
        "dsn": "postgres://app:pa55word@db.internal/pyq",
        "secret": "",  # not set: stays empty, so a page can say so
        "labels": [{"name": "invoice", "keywords": ["due date"]}],
    }
    assert mask_secrets(config) == {
        "url": "https://hooks.example.com/x",
        "headers": {"Authorization": MASK, "Accept": "application/json"},
        "targets": [{"name": "a", "api_key": MASK}],
        "dsn": f"postgres://app:{MASK}@db.internal/pyq",
        "secret": "",
        "labels": [{"name": "invoice", "keywords": ["due date"]}],
    }
    assert config["headers"]["Authorization"] == f"Bearer {TOKEN}"  # a copy, not in place


def test_a_deeply_nested_value_does_not_break_masking():
    deep: dict = {"secret": SECRET}
    for _ in range(5000):
        deep = {"a": deep}
    assert SECRET not in json.dumps(mask_secrets(deep))[:100_000]


def test_a_steps_recorded_input_masks_nested_secrets():
    [spec] = parse_pipeline([SEND])
    recorded = input_of(spec, {})
    assert recorded["config"]["secret"] == MASK
    assert SECRET not in json.dumps(recorded)


def test_masked_values_keep_what_is_stored_matched_by_step_id():
    stored = [READ, SEND]
    moved = [{**SEND, "config": {**SEND["config"], "secret": MASK}}, READ]  # reordered
    assert keep_draft_secrets(moved, stored)[0]["config"]["secret"] == SECRET
    new = [READ, {**SEND, "config": {**SEND["config"], "secret": "a-new-secret"}}]
    assert keep_draft_secrets(new, stored)[1]["config"]["secret"] == "a-new-secret"
    copied = [
        READ,
        SEND,
        {**SEND, "id": "send_again", "config": {**SEND["config"], "secret": MASK}},
    ]
    with pytest.raises(MaskedSecretLost, match=r"Step 3 \(send_again\): config.secret was hidden"):
        keep_draft_secrets(copied, stored)


# --- the builder ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "member", "owner"])
def test_the_builder_page_never_carries_the_secret(request, secret_workflow, role):
    persona = request.getfixturevalue(role)
    response = persona.client.get(reverse("automations:builder", args=[secret_workflow.pk]))
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    draft = boot_data(response)["draft"]
    assert draft[1]["config"] == {"url": "https://hooks.example.com/pyq", "secret": MASK}


def test_saving_the_masked_draft_back_keeps_the_stored_secret(member, secret_workflow):
    page = member.client.get(reverse("automations:builder", args=[secret_workflow.pk]))
    steps = boot_data(page)["draft"]
    steps[1]["config"]["attempts"] = 2  # an edit elsewhere in the step
    response = save(member, secret_workflow, steps)
    assert response.status_code == 200
    secret_workflow.refresh_from_db()
    assert secret_workflow.draft[1]["config"] == {**SEND["config"], "attempts": 2}


def test_a_new_secret_replaces_the_stored_one(member, secret_workflow):
    steps = [READ, {**SEND, "config": {**SEND["config"], "secret": "rotated-secret-2"}}]
    assert save(member, secret_workflow, steps).status_code == 200
    secret_workflow.refresh_from_db()
    assert secret_workflow.draft[1]["config"]["secret"] == "rotated-secret-2"


def test_a_masked_secret_with_nothing_to_keep_is_refused_and_changes_nothing(
    member, secret_workflow
):
    copy = {
        "id": "again",
        "step": "webhook",
        "config": {"url": "https://x.example", "secret": MASK},
    }
    before = secret_workflow.draft
    response = save(member, secret_workflow, [READ, SEND, copy])
    assert response.status_code == 400
    assert "type it again" in response.json()["error"]
    secret_workflow.refresh_from_db()
    assert secret_workflow.draft == before


def test_a_problem_that_quotes_a_secret_masks_it(member, secret_workflow):
    long_secret = "s3cr3t-" * 100  # over the 500 characters allowed
    save_draft(
        secret_workflow, [READ, {**SEND, "config": {**SEND["config"], "secret": long_secret}}]
    )
    response = member.client.get(reverse("automations:builder", args=[secret_workflow.pk]))
    problems = boot_data(response)["problems"]
    assert [p["field"] for p in problems] == ["config.secret"]
    assert "is too long" in problems[0]["message"]
    assert "s3cr3t-s3cr3t" not in response.content.decode()
    published = member.client.post(
        reverse("automations:builder_publish", args=[secret_workflow.pk])
    )
    assert published.status_code == 400
    assert "s3cr3t-s3cr3t" not in published.content.decode()


# --- pages that show configuration and step inputs ---------------------------------------------


@pytest.fixture
def run_with_unmasked_input(owner, secret_workflow) -> Run:
    """A run whose step input was stored before inputs were masked (or by hand)."""
    document = make_document(owner.org, "a.txt", b"Invoice 4721")
    run = Run.objects.create(
        organization=owner.org,
        document=document,
        workflow=secret_workflow,
        is_test=True,
        pipeline=secret_workflow.draft,
        status=Run.Status.FAILED,
        trigger=Run.Trigger.TEST,
    )
    StepRun.objects.create(
        run=run,
        position=1,
        step_id="send",
        step="webhook",
        status=StepRun.Status.FAILED,
        input={
            "config": {**SEND["config"], "headers": {"X-Auth-Token": TOKEN}},
            "references": {},
        },
        output={},
        error="The receiver answered 500.",
    )
    return run


def test_the_run_page_masks_config_and_input(viewer, run_with_unmasked_input):
    html = viewer.client.get(reverse("automations:run", args=[run_with_unmasked_input.pk]))
    assert html.status_code == 200
    page = html.content.decode()
    assert SECRET not in page
    assert TOKEN not in page
    assert MASK in page


def test_the_builder_test_result_masks_the_input(viewer, secret_workflow, run_with_unmasked_input):
    response = viewer.client.get(
        reverse(
            "automations:builder_test_run", args=[secret_workflow.pk, run_with_unmasked_input.pk]
        )
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET not in body
    assert TOKEN not in body


def test_the_history_json_masks_the_secret(viewer, owner, secret_workflow):
    publish(secret_workflow, user=owner.user)
    response = viewer.client.get(reverse("automations:workflow_history", args=[secret_workflow.pk]))
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
