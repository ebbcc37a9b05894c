"""In Chromium: the pages keep working under the Content-Security-Policy (pyq_site/security.py).

Every main page loads without a policy violation in the console, and a confirmation that
used to be an inline ``onsubmit`` handler still asks before it deletes (static/js/pages.js).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ApiKey, Role
from automations import workflows
from automations.models import DataTable, Document
from tests.automations.helpers import make_document
from tests.factories import MembershipFactory

# browser_page and live_site: tests/e2e/browser.py
pytest_plugins = ["tests.e2e.browser"]

pytestmark = [pytest.mark.slow]


def violations(page) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


def test_the_pages_run_their_scripts_within_the_policy(live_site, browser_page) -> None:
    # Given an owner with a document, a published workflow, a table and an API key
    membership = MembershipFactory(role=Role.OWNER)
    org = membership.organization
    document = make_document(org, "note.txt", b"Invoice INV-1 total 12.00")
    workflow = workflows.create_workflow(
        org, "Invoices", steps=[{"id": "text", "step": "extract_text"}]
    )
    workflows.publish(workflow)
    table = DataTable.objects.create(organization=org, name="Invoices", columns=["total"])
    ApiKey.issue(org, membership.user, "Accounting export")
    page = browser_page
    blocked = violations(page)
    page.goto(live_site(reverse("account_login")))
    live_site.log_in(page, membership.user)
    # When each main page is opened
    for url in (
        reverse("automations:documents"),
        reverse("automations:document", args=[document.uid]),
        reverse("automations:runs"),
        reverse("automations:run", args=[document.runs.get().pk]),
        reverse("automations:workflows"),
        reverse("automations:workflow", args=[workflow.pk]),
        reverse("automations:builder", args=[workflow.pk]),
        reverse("automations:tables"),
        reverse("automations:table", args=[table.pk]),
        reverse("catalog:list"),
        reverse("catalog:model", args=["receipt-extractor"]),
        reverse("accounts:api_keys"),
    ):
        page.goto(live_site(url))
        page.wait_for_load_state("networkidle")
    # Then the policy blocked nothing and no script failed
    assert blocked == []
    assert page.js_errors == []

    # And deleting the document still asks first: dismissed, nothing is deleted
    page.goto(live_site(reverse("automations:document", args=[document.uid])))
    questions: list[str] = []

    def answer(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer)
    page.get_by_role("button", name="Delete").click()
    assert questions == ["Delete this document and its text?"]
    assert Document.objects.filter(pk=document.pk).exists()
    # And accepted, the document is deleted
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(live_site(reverse("automations:documents")))
    assert not Document.objects.filter(pk=document.pk).exists()
    assert blocked == []
