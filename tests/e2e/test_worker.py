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
