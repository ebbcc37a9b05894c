"""End to end: an upload through the web view is read by a real Celery worker process."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from automations.models import Document, Run
from tests import files
from tests.automations.helpers import upload
from tests.e2e.conftest import wait_for
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_uploaded_documents_are_read_by_a_worker_process(celery_worker_process):
    membership = MembershipFactory(role=Role.OWNER)
    client = Client()
    client.force_login(membership.user)

    response = client.post(
        reverse("automations:documents"),
        {
            "files": [
                upload("invoice.pdf", files.text_pdf(["Invoice 4721 from Acme Supplies Ltd"])),
                upload("receipt.png", files.text_image(["RECEIPT 7731", "TOTAL 45.20"])),
                upload("blank.png", files.blank_image()),
            ]
        },
    )
    assert response.status_code == 302

    def finished():
        runs = Run.objects.filter(organization=membership.organization)
        return runs.count() == 3 and not runs.filter(status__in=Run.ACTIVE).exists()

    wait_for(finished, 120, "three runs to finish", celery_worker_process)
    documents = {
        d.original_name: d for d in Document.objects.filter(organization=membership.organization)
    }
    invoice, receipt, blank = (
        documents["invoice.pdf"],
        documents["receipt.png"],
        documents["blank.png"],
    )
    assert invoice.latest_run.status == Run.Status.SUCCEEDED
    assert "Invoice 4721 from Acme Supplies Ltd" in invoice.text
    assert receipt.latest_run.status == Run.Status.SUCCEEDED
    assert {"RECEIPT", "7731"} <= set(receipt.text.upper().split())
    assert blank.latest_run.status == Run.Status.FAILED
    assert "No text was found" in blank.latest_run.error

    page = client.get(reverse("automations:document", args=[receipt.uid]))
    assert "7731" in page.content.decode()


def test_a_model_call_goes_through_the_broker_to_a_worker_and_back(celery_worker_process):
    import re

    from catalog.services import run_model
    from pyq_site.celery import app
    from tests.factories import OrganizationFactory

    assert app.conf.task_always_eager is False  # the call must really cross the broker
    org = OrganizationFactory()

    answer = run_model(
        org,
        "minilm-classifier",
        text="Invoice INV-2041 from ACME Supplies Ltd. Amount due: 1,234.50 EUR, payable "
        "by bank transfer within 30 days.",
        options={"labels": ["invoice", "recipe"]},
    )

    assert answer["error"] is None
    assert answer["output"]["label"] == "invoice"
    assert [row["label"] for row in answer["output"]["top"]] == ["invoice", "recipe"]
    task = r"Task catalog\.tasks\.predict_task\[[0-9a-f-]{36}\]"
    assert re.search(task + " received", celery_worker_process.read_text())
    wait_for(
        lambda: re.search(task + " succeeded", celery_worker_process.read_text()),
        10,
        "the worker to log the task",
        celery_worker_process,
    )
