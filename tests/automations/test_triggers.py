"""A workflow's ways in (automations/triggers.py, issue 11): a trigger belongs to the
workflow and runs its current published version; pausing and changing its secret need no
publish; a paused trigger, or a workflow with no published version, refuses at the door
and stores nothing; each run records its trigger, and retries keep it."""

from __future__ import annotations

import pytest

from automations import intake, triggers
from automations.models import Document, Run, Trigger
from automations.runs.control import retry_run
from automations.triggers import TriggerRefused
from automations.workflows import create_workflow, publish, save_draft
from tests.automations.helpers import stored_files, upload
from tests.factories import FIELDS, READ, SORT

INVOICE = b"Invoice 4721 from Acme, total 120.00 EUR"


@pytest.fixture
def published(owner):
    flow = create_workflow(owner.org, "Supplier Invoices", user=owner.user, steps=[READ, SORT])
    publish(flow, user=owner.user)
    return flow


@pytest.fixture
def hook(published, owner) -> Trigger:
    return triggers.create_trigger(published, Trigger.Kind.WEBHOOK, user=owner.user)


def _send(trigger: Trigger, name: str = "invoice.txt", **kwargs):
    return triggers.start_from_trigger(trigger, [upload(name, INVOICE)], **kwargs)


def test_a_trigger_has_a_secret_token_of_its_own(published, owner):
    one = triggers.create_trigger(published, Trigger.Kind.WEBHOOK)
    two = triggers.create_trigger(published, Trigger.Kind.WEBHOOK)
    assert one.organization == owner.org
    assert one.workflow == published
    assert len(one.token) >= 32
    assert one.token != two.token
    assert not one.paused
    assert one.address == ""
    assert list(Trigger.objects.for_org(owner.org)) == [one, two]  # several per workflow


def test_a_mail_trigger_keeps_its_address_when_the_workflow_is_renamed(published):
    trigger = triggers.create_trigger(published, Trigger.Kind.EMAIL)
    assert trigger.address == f"supplier-invoices-{trigger.token}"
    assert trigger.token.isalnum()
    assert trigger.token == trigger.token.lower()
    published.name = "Bills"
    published.save()
    trigger.refresh_from_db()
    assert trigger.address.startswith("supplier-invoices-")


def test_rotating_makes_a_new_token_and_the_old_one_is_unknown(hook, sent):
    old = hook.token
    triggers.rotate_token(hook)
    assert hook.token != old
    with pytest.raises(TriggerRefused) as refused:
        triggers.resolve_webhook(old)
    assert refused.value.status == 404
    assert triggers.resolve_webhook(hook.token) == hook


def test_a_trigger_runs_the_current_published_version_without_a_new_publish(
    hook, published, owner, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(hook)
    assert [r.workflow_version.number for r in first.runs] == [1]
    save_draft(published, [READ, FIELDS], user=owner.user)
    publish(published, user=owner.user)
    with django_capture_on_commit_callbacks(execute=True):
        second = _send(triggers.resolve_webhook(hook.token))
    assert [r.workflow_version.number for r in second.runs] == [2]
    run = second.runs[0]
    assert run.trigger == Run.Trigger.WEBHOOK
    assert run.trigger_ref == hook
    assert not run.is_test
    assert run.organization == run.document.organization == hook.organization
    assert sent == [first.runs[0].pk, run.pk]  # each sent after its transaction committed
    hook.refresh_from_db()
    assert hook.last_used_at is not None


def test_a_paused_trigger_refuses_and_stores_nothing(hook, sent):
    triggers.set_paused(hook, True)
    with pytest.raises(TriggerRefused) as refused:
        triggers.resolve_webhook(hook.token)
    assert refused.value.status == 423
    assert "paused" in str(refused.value)
    with pytest.raises(TriggerRefused):
        _send(hook)  # paused after it was resolved: checked again at the door
    assert not Document.objects.exists()
    assert not Run.objects.exists()
    assert not stored_files()
    assert sent == []
    triggers.set_paused(hook, False)
    assert len(_send(triggers.resolve_webhook(hook.token)).runs) == 1


def test_a_workflow_without_a_published_version_refuses(workflow, sent):
    trigger = triggers.create_trigger(workflow, Trigger.Kind.WEBHOOK)
    with pytest.raises(TriggerRefused) as refused:
        triggers.resolve_webhook(trigger.token)
    assert refused.value.status == 409
    assert refused.value.code == "not_published"
    with pytest.raises(TriggerRefused):
        _send(trigger)
    assert not Document.objects.exists()
    assert not stored_files()
    assert sent == []


def test_an_unknown_token_or_another_kind_is_refused(published, db):
    mail = triggers.create_trigger(published, Trigger.Kind.EMAIL)
    for token in ("nope", mail.token):
        with pytest.raises(TriggerRefused) as refused:
            triggers.resolve_webhook(token)
        assert refused.value.status == 404


def test_a_test_runs_the_draft_marked_as_a_test(workflow, sent):
    trigger = triggers.create_trigger(workflow, Trigger.Kind.WEBHOOK)  # never published
    started = _send(triggers.resolve_webhook(trigger.token, test=True), test=True)
    run = started.runs[0]
    assert run.is_test
    assert run.trigger == Run.Trigger.TEST
    assert run.trigger_ref == trigger
    assert run.pipeline == workflow.draft
    assert run.workflow_version is None
    assert run.document.runs.count() == 1  # no default reading besides the test


def test_a_refused_file_is_said_and_the_others_go_on(hook, sent):
    started = triggers.start_from_trigger(
        hook, [upload("empty.txt", b""), upload("invoice.txt", INVOICE)]
    )
    assert [d.original_name for d in started.documents] == ["invoice.txt"]
    assert [r.filename for r in started.rejected] == ["empty.txt"]


@pytest.mark.parametrize("whole", [False, True])
def test_a_retry_keeps_the_trigger(hook, whole, sent):
    run = _send(hook).runs[0]
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    run.refresh_from_db()
    again = retry_run(run, whole=whole)
    assert again.trigger == Run.Trigger.RETRY
    assert again.trigger_ref == hook
    assert (again.pk == run.pk) is not whole


def test_deleting_a_trigger_keeps_its_runs(hook, sent):
    run = _send(hook).runs[0]
    hook.delete()
    run.refresh_from_db()
    assert run.trigger_ref is None
    assert run.trigger == Run.Trigger.WEBHOOK


def test_another_organizations_triggers_are_not_its(hook, outsider):
    assert not Trigger.objects.for_org(outsider.org).exists()


def test_a_mails_attachments_keep_its_trigger(hook, sent):
    mail_run = _send(hook).runs[0]
    assert intake.ingest_attachments(mail_run, [("receipt.txt", b"Receipt 9, total 3 EUR")]) == []
    attachment = Document.objects.get(parent=mail_run.document)
    run = attachment.runs.get()
    assert run.trigger_ref == hook
    assert run.workflow_version == mail_run.workflow_version
