"""A mail's attachments run as their mail does: the same workflow version (or the same draft,
for a builder's test), trigger and person, saved together in one transaction."""

from __future__ import annotations

import io
import json

from django.urls import reverse

from automations import intake
from automations.models import Document, Run, StepRun
from automations.runs.execute import execute_run
from automations.workflows import create_workflow, publish, save_draft, start_test_run
from tests import files
from tests.automations.helpers import upload

READ = {"id": "text", "step": "extract_text"}
CLASSIFY = {
    "id": "type",
    "step": "classify",
    "config": {
        "labels": [
            {"name": "invoice", "keywords": ["invoice"]},
            {"name": "receipt", "keywords": ["receipt"]},
        ]
    },
}
TAG_INVOICES = {
    "id": "tag",
    "step": "tag",
    "config": {"tags": ["to pay"], "type_from": "type"},
    "when": {"match": "all", "rules": [{"ref": "type.label", "op": "is", "value": "invoice"}]},
}
INVOICE = (
    "INVOICE\nAcme Supplies Ltd\nInvoice number: INV-4721\nInvoice date: 2026-11-20\n"
    "Payment terms: 30 days. Please pay the amount due to our bank account.\n"
    "Total due: 93.50 EUR"
)
RECEIPT = (
    "RECEIPT\nCorner Cafe\n2 x Cappuccino 7.00\nPaid by card\nTotal 7.00 EUR\n"
    "Thank you for your purchase. Keep this receipt."
)


def mail_with_invoice_and_receipt() -> bytes:
    return files.eml_file(
        "Hello, two documents for you.",
        [
            ("invoice.pdf", "application/pdf", files.text_pdf([INVOICE])),
            ("receipt.txt", "text/plain", RECEIPT.encode()),
        ],
    )


def run_all_queued(org) -> None:
    """Run every queued run of the organization, oldest first, as the workers would (the
    runs that attachments add are run too)."""
    for _ in range(20):
        queued = Run.objects.filter(organization=org, status=Run.Status.QUEUED)
        run = queued.order_by("created_at", "pk").first()
        if run is None:
            return
        execute_run(run.pk)
    raise AssertionError("runs kept being queued")


def test_attachments_of_a_mail_run_on_the_workflow_version_the_mail_was_uploaded_to(owner):
    flow = create_workflow(owner.org, "Sort incoming mail", steps=[READ, CLASSIFY, TAG_INVOICES])
    version = publish(flow, user=owner.user)
    save_draft(flow, [READ])  # a later draft: attachments still run the published version
    accepted, rejected = intake.ingest_many(
        owner.org,
        [upload("mail.eml", mail_with_invoice_and_receipt(), "message/rfc822")],
        user=owner.user,
        version=version,
    )
    assert rejected == []
    [mail] = accepted

    run_all_queued(owner.org)

    mail_run = mail.runs.get()
    assert mail_run.status == Run.Status.SUCCEEDED
    invoice = mail.attachments.get(original_name="invoice.pdf")
    receipt = mail.attachments.get(original_name="receipt.txt")
    for attachment in (invoice, receipt):
        run = attachment.runs.get()
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert (run.workflow_version, run.workflow, run.pipeline, run.is_test) == (
            version,
            flow,
            version.spec,
            False,
        )
        assert (run.trigger, run.triggered_by) == (Run.Trigger.UPLOAD, owner.user)
        assert [s.step_id for s in run.steps.all()] == ["text", "type", "tag"]
    # The condition is decided per attachment: the invoice is tagged, the receipt is not.
    assert invoice.runs.get().output_of("classify")["label"] == "invoice"
    assert receipt.runs.get().output_of("classify")["label"] == "receipt"
    invoice.refresh_from_db()
    receipt.refresh_from_db()
    assert (invoice.tags, invoice.doc_type) == (["to pay"], "invoice")
    assert (receipt.tags, receipt.doc_type) == ([], "")
    tag = receipt.runs.get().steps.get(step_id="tag")
    assert tag.status == StepRun.Status.SKIPPED
    assert invoice.runs.get().steps.get(step_id="tag").status == StepRun.Status.SUCCEEDED
    # The workflow's runs are the mail's and both attachments'; no default reading ran.
    assert set(
        Run.objects.filter(organization=owner.org).values_list("workflow_version", flat=True)
    ) == {version.pk}


def forwarded_mail() -> bytes:
    """A mail with a note, and a forwarded mail with an attachment of its own."""
    inner = files.mail(
        "The original.",
        [("inv.txt", "text/plain", INVOICE.encode())],
        to="accounts@acme.example",
        subject="Invoice INV-4721",
        date=None,
    )
    outer = files.mail(
        "Forwarding this.",
        [("note.txt", "text/plain", b"A note."), inner],
        sender="Colleague <colleague@acme.example>",
        subject="Fwd: Invoice INV-4721",
        date=None,
    )
    return outer.as_bytes()


def test_a_builder_test_on_a_mail_runs_its_attachments_as_tests_of_the_same_draft(owner):
    flow = create_workflow(owner.org, "Mail intake", steps=[READ])
    version = publish(flow, user=owner.user)
    draft = [READ, {"id": "tag", "step": "tag", "config": {"tags": ["tested"]}}]
    save_draft(flow, draft)
    # Stored as the builder stores a sample it is given: read by the test alone.
    mail = intake.ingest(owner.org, io.BytesIO(forwarded_mail()), "fwd.eml", enqueue=False)
    mail.runs.all().delete()
    test = start_test_run(flow, mail, user=owner.user)

    run_all_queued(owner.org)

    documents = Document.objects.filter(organization=owner.org)
    # The mail's note and forwarded mail, and the forwarded mail's attachment in turn.
    assert sorted(mail.attachments.values_list("kind", flat=True)) == ["eml", "txt"]
    forwarded = mail.attachments.get(kind="eml")
    assert forwarded.attachments.get().original_name == "inv.txt"
    runs = Run.objects.filter(organization=owner.org)
    assert runs.count() == documents.count() == 4
    for run in runs:
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert (run.is_test, run.workflow, run.workflow_version, run.pipeline) == (
            True,
            flow,
            None,
            test.pipeline,
        )
        assert (run.trigger, run.triggered_by) == (Run.Trigger.TEST, owner.user)
        assert run.document.tags == ["tested"]  # the draft's steps ran, not the version's
    assert not runs.filter(is_test=False).exists()  # no real run started
    assert version.runs.count() == 0

    # Tests are not the workflow's runs: nothing to export.
    response = owner.client.get(
        reverse("automations:workflow_export", args=[flow.pk]) + "?format=json"
    )
    assert response.status_code == 200
    assert json.loads(response.content) == []
