"""The builder in a real browser: build a three-step workflow by clicking and dragging, test
it on a sample, publish it, upload a document and see the signed webhook arrive."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Role
from automations.models import Run, Workflow
from automations.steps.webhook import verify_signature
from tests import files
from tests.e2e.conftest import wait_for
from tests.factories import MembershipFactory

# browser_page, live_app, live_site and webhook_receiver: tests/e2e/browser.py
pytest_plugins = ["tests.e2e.browser"]
pytestmark = pytest.mark.browser

SECRET = "s3cret-for-tests"
INVOICE = [
    "INVOICE\n"
    "ACME Supplies Ltd, 12 Market Street, Leeds\n"
    "Invoice number: INV-2041\n"
    "Invoice date: 14/03/2026\n"
    "Due date: 13/04/2026\n"
    "Bill to: Corner Cafe\n"
    "Consulting services 1,000.00\n"
    "VAT 20% 200.00\n"
    "Amount due: 1,200.00 GBP\n"
    "Payment terms: 30 days, IBAN GB29 NWBK 6016 1331 9268 19"
]
TEST_TIMEOUT = 180_000  # ms: the worker loads the embedding model for the first classify


def pdf(name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": files.text_pdf(INVOICE)}


def step_order(page) -> list[str]:
    return page.locator("#step-list > li").evaluate_all(
        "(items) => items.map((li) => li.dataset.stepId)"
    )


def wait_saved(page) -> None:
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()


def wait_visible(locator, what: str, worker_log) -> None:
    """Wait for a slow result; on timeout, say what the worker was doing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(timeout=TEST_TIMEOUT)
    except PlaywrightTimeout:
        runs = list(Run.objects.values_list("pk", "status", "is_test", "error"))
        tail = worker_log.read_text()[-4000:]
        raise AssertionError(f"timed out waiting for {what}; runs {runs}\n{tail}") from None


def drag(page, step_id: str, onto: str, *, below: bool) -> None:
    """Drag a step by its handle onto the top or bottom half of another step's card."""
    target = page.get_by_test_id(f"step-{onto}")
    box = target.bounding_box()
    y = box["height"] - 6 if below else 6
    page.get_by_test_id(f"drag-{step_id}").drag_to(target, target_position={"x": 40, "y": y})


@pytest.mark.worker
@pytest.mark.slow
def test_build_test_publish_and_run_a_workflow_in_the_browser(
    live_app, browser_page, webhook_receiver
):
    page = browser_page
    owner = MembershipFactory(role=Role.OWNER)
    live_app.log_in(page, owner.user)

    # A blank workflow, from the template chooser.
    page.goto(live_app(reverse("automations:builder_new")))
    page.get_by_test_id("blank-name").fill("Invoices to accounting")
    page.get_by_test_id("start-blank").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/builder/$"))
    workflow = Workflow.objects.get(organization=owner.organization)
    assert workflow.name == "Invoices to accounting"

    # Three steps from the library, grouped by kind.
    library = page.get_by_test_id("library")
    library.get_by_test_id("library-read").get_by_role("button", name="Add Read text").click()
    library.get_by_test_id("add-step-classify").click()
    library.get_by_test_id("add-step-webhook").click()
    assert step_order(page) == ["text", "type", "send"]

    # Classify: two labels as rows of its form.
    page.get_by_test_id("select-type").click()
    config = page.get_by_test_id("config-panel")
    config.get_by_test_id("add-labels").click()
    config.get_by_test_id("labels-0-name").fill("invoice")
    config.get_by_test_id("add-labels").click()
    config.get_by_test_id("labels-1-name").fill("receipt")

    # The webhook: an error next to the empty URL until it is filled in.
    page.get_by_test_id("select-send").click()
    wait_saved(page)
    url_field = config.get_by_test_id("field-url")
    assert "url" in url_field.locator(".field-error").inner_text()
    url_field.get_by_label("URL").fill(f"{webhook_receiver.url}/hook")
    config.get_by_test_id("field-secret").get_by_label("Signing secret").fill(SECRET)
    config.get_by_test_id("field-attempts").get_by_label("Attempts").fill("2")
    wait_saved(page)
    assert url_field.locator(".field-error").is_hidden()
    assert page.get_by_test_id("problems").is_hidden()

    # Drag the webhook above Classify, then back below it.
    drag(page, "send", onto="type", below=False)
    assert step_order(page) == ["text", "send", "type"]
    wait_saved(page)
    drag(page, "send", onto="type", below=True)
    assert step_order(page) == ["text", "type", "send"]
    wait_saved(page)
    workflow.refresh_from_db()
    assert [(s["id"], s["step"]) for s in workflow.draft] == [
        ("text", "extract_text"),
        ("type", "classify"),
        ("send", "webhook"),
    ]
    assert workflow.draft[1]["config"] == {"labels": ["invoice", "receipt"]}
    assert workflow.draft[2]["config"] == {
        "url": f"{webhook_receiver.url}/hook",
        "secret": SECRET,
        "attempts": 2,
    }

    # Test the draft on an uploaded sample; every step's output shows under it.
    page.get_by_test_id("test-file").set_input_files(pdf("sample-invoice.pdf"))
    page.get_by_test_id("run-test").click()
    status = page.get_by_test_id("test-status")
    finished = status.locator(".badge.status-succeeded, .badge.status-failed")
    wait_visible(finished, "the test run to finish", live_app.worker_log)
    assert "Succeeded" in status.inner_text(), status.inner_text()
    classified = page.get_by_test_id("step-result-type")
    assert "Succeeded" in classified.inner_text()
    assert re.search(r"label\s+invoice", classified.inner_text())
    assert "pages" in page.get_by_test_id("step-result-text").inner_text()
    assert "delivered" in page.get_by_test_id("step-result-send").inner_text()
    test_run = Run.objects.get(workflow=workflow, is_test=True)
    assert test_run.status == Run.Status.SUCCEEDED
    assert len(webhook_receiver.requests) == 1  # a test runs the actions too

    # Map the payload from the test's values: the picker shows what Classify answered.
    page.get_by_test_id("select-send").click()
    config.get_by_test_id("add-payload").click()
    config.get_by_test_id("payload-name-0").fill("label")
    picker = config.get_by_test_id("payload-ref-0")
    assert "type.label = invoice" in picker.locator("option").all_inner_texts()
    picker.select_option("type.label")
    assert "Last test: invoice" in config.get_by_test_id("field-payload").inner_text()
    wait_saved(page)
    live_app.screenshot(page, "builder.png")

    # Publish.
    page.get_by_test_id("publish-note").fill("First version")
    page.get_by_test_id("publish").click()
    page.get_by_test_id("published").wait_for()
    assert "Published version 1" in page.get_by_test_id("published").inner_text()
    version = Workflow.objects.get(pk=workflow.pk).current_version
    assert (version.number, version.note) == (1, "First version")
    assert version.spec[2]["config"]["payload"] == {"label": "type.label"}
    assert page.js_errors == []

    # Upload a document to the published workflow and see its run finish.
    page.goto(live_app(reverse("automations:workflow", args=[workflow.pk])))
    upload = page.get_by_test_id("workflow-upload")
    upload.locator("input[type=file]").set_input_files(pdf("invoice-4721.pdf"))
    upload.get_by_role("button", name="Upload and run").click()
    page.wait_for_load_state()

    def finished_run():
        run = Run.objects.filter(workflow_version=version).first()
        return run if run is not None and not run.is_active else None

    run = wait_for(finished_run, TEST_TIMEOUT / 1000, "the workflow's run", live_app.worker_log)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.document.original_name == "invoice-4721.pdf"
    page.goto(live_app(reverse("automations:run", args=[run.pk])))
    page.get_by_text("Succeeded").first.wait_for()
    live_app.screenshot(page, "run-finished.png")

    # The webhook arrived, signed.
    assert len(webhook_receiver.requests) == 2
    delivery = webhook_receiver.requests[-1]
    assert delivery.path == "/hook"
    assert verify_signature(
        SECRET,
        delivery.headers["x-pyq-timestamp"],
        delivery.body,
        delivery.headers["x-pyq-signature"],
    )
    assert delivery.json()["data"] == {"label": "invoice"}
    assert delivery.json()["document"]["name"] == "invoice-4721.pdf"
    assert page.js_errors == []


def test_a_template_with_a_condition_a_branch_and_keyboard_moves(live_site, browser_page):
    """No worker needed: the builder alone, from a template, by keyboard and pointer."""
    page = browser_page
    owner = MembershipFactory(role=Role.OWNER)
    live_site.log_in(page, owner.user)
    page.goto(live_site(reverse("automations:builder_new")))
    live_site.screenshot(page, "new-workflow.png")
    page.get_by_test_id("template-invoice-intake").get_by_role(
        "button", name="Use this template"
    ).click()
    page.wait_for_url(re.compile(r"/builder/$"))
    workflow = Workflow.objects.get(organization=owner.organization)
    assert step_order(page) == ["text", "type", "fields", "tag", "send"]

    # Move Classify down and back up with the keyboard; focus stays on the arrow.
    page.get_by_test_id("move-down-type").focus()
    page.keyboard.press("Enter")
    assert step_order(page) == ["text", "fields", "type", "tag", "send"]
    wait_saved(page)
    focused = page.evaluate("document.activeElement.dataset.testid")
    assert focused == "move-down-type"
    page.get_by_test_id("move-up-type").focus()
    page.keyboard.press("Enter")
    assert step_order(page) == ["text", "type", "fields", "tag", "send"]

    # Send only invoices; tag everything else for a person to look at.
    page.get_by_test_id("select-send").click()
    config = page.get_by_test_id("config-panel")
    config.get_by_test_id("add-condition").click()
    wait_saved(page)
    rule = config.get_by_test_id("rule-0")
    assert "choose" in rule.inner_text().lower()  # the empty rule's problem, next to it
    reference = config.get_by_test_id("rule-ref-0")
    assert "type.label" in reference.locator("option").all_inner_texts()  # from output hints
    reference.select_option("type.label")
    config.get_by_test_id("rule-op-0").select_option("is")
    config.get_by_test_id("rule-value-0").fill("invoice")
    config.get_by_test_id("add-rule").click()
    config.get_by_test_id("rule-ref-1").select_option("fields.fields.total.confidence")
    config.get_by_test_id("rule-op-1").select_option("at_least")
    config.get_by_test_id("rule-value-1").fill("0.9")
    config.get_by_test_id("otherwise-kind").select_option("tag")
    config.get_by_test_id("add-otherwise").click()
    assert step_order(page) == ["text", "type", "fields", "tag", "send", "tag_2"]
    config.get_by_test_id("field-tags").get_by_label("Tags").fill("check by hand")
    wait_saved(page)
    assert "Only when type.label is “invoice” and" in page.get_by_test_id("step-send").inner_text()
    assert "Otherwise" in page.get_by_test_id("step-tag_2").inner_text()
    assert page.get_by_test_id("problems").is_hidden()
    workflow.refresh_from_db()
    send, branch = workflow.draft[4], workflow.draft[5]
    assert send["when"] == {
        "match": "all",
        "rules": [
            {"ref": "type.label", "op": "is", "value": "invoice"},
            {"ref": "fields.fields.total.confidence", "op": "at_least", "value": "0.9"},
        ],
    }
    assert branch == {
        "id": "tag_2",
        "step": "tag",
        "config": {"tags": ["check by hand"]},
        "otherwise_of": "send",
    }
    live_site.screenshot(page, "builder-conditions.png")

    # An empty URL: the error shows next to the field, and publishing lists it instead.
    page.get_by_test_id("select-send").click()
    url_field = config.get_by_test_id("field-url")
    url_field.get_by_label("URL").fill("")
    wait_saved(page)
    assert url_field.locator(".field-error").is_visible()
    assert "1 thing to fix" in page.get_by_test_id("problems").inner_text()
    page.get_by_test_id("publish").click()
    problems = page.get_by_test_id("publish-problems")
    problems.wait_for()
    assert "url" in problems.inner_text()
    assert Workflow.objects.get(pk=workflow.pk).current_version is None
    assert page.js_errors == []

    # A viewer sees the same workflow, read only.
    viewer = MembershipFactory(organization=owner.organization, role=Role.VIEWER)
    page.context.clear_cookies()
    live_site.log_in(page, viewer.user)
    page.goto(live_site(reverse("automations:builder", args=[workflow.pk])))
    assert step_order(page) == ["text", "type", "fields", "tag", "send", "tag_2"]
    assert page.get_by_test_id("library").count() == 0
    assert page.get_by_test_id("remove-send").count() == 0
    assert page.get_by_test_id("publish").is_disabled()
    page.get_by_test_id("select-send").click()
    assert page.get_by_test_id("config-panel").locator("input").first.is_disabled()
    assert page.js_errors == []
