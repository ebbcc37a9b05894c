"""In Chromium, against a live server and a real Celery worker: the issue's "Done when".

1. A user starts "Invoice intake to CSV and webhook" from its template in the builder,
   tests it on a PDF, publishes it, uploads three invoices from invoice2data on the
   workflow page, watches the three runs succeed there, and downloads a CSV with their
   vendor, date and total.
2. A run whose webhook fails shows each attempt; after the URL is fixed (a new version),
   "Retry from failed step" delivers it without running the earlier steps again.

The fixtures are tests/e2e/browser.py's: the webhook receiver is a thread of this test on
loopback, and the worker gets PYQ_ALLOW_PRIVATE_URLS=1 so it may call it. Screenshots go
to test-output/.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse

from accounts.models import Role
from automations.models import Run, StepRun, Workflow
from automations.steps.webhook import verify_signature
from automations.workflows import create_workflow, publish, save_draft
from tests.e2e.browser import (  # noqa: F401  (fixtures)
    browser_page,
    live_app,
    log_in,
    screenshot,
    webhook_receiver,
)
from tests.e2e.conftest import wait_for
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data" / "invoice2data"  # tests/data/README.md
SECRET = "receiver-shared-secret"
# What Pyq reads from each invoice (their invoice2data JSON agrees on date and total).
INVOICES = {
    "AmazonWebServices.pdf": ("Amazon Web Services, Inc.", "2014-08-03", "4.11"),
    "QualityHosting.pdf": ("QualityHosting AG", "2014-05-07", "34.73"),
    "free_fiber.pdf": ("Free SAS", "2015-07-02", "29.99"),
}
RUN_TIMEOUT = 240  # seconds: the worker loads its models on the first document


# --- fixtures (the shared ones are in tests/e2e/browser.py) ------------------------------


@pytest.fixture
def quick_retries(monkeypatch):
    """Before the worker starts: a step that fails for a passing reason is not retried."""
    monkeypatch.setenv("PYQ_STEP_RETRY_BASE", "0")
    monkeypatch.setenv("PYQ_STEP_RETRY_ATTEMPTS", "1")


@pytest.fixture
def owner_account(transactional_db):
    return MembershipFactory(role=Role.OWNER)


@pytest.fixture
def page(quick_retries, live_app, browser_page, owner_account):  # noqa: F811
    """Chromium, logged in as the owner, on the live server with a worker behind it."""
    log_in(browser_page, live_app.url, owner_account.user)
    browser_page.base_url = live_app.url
    browser_page.worker_log = live_app.worker_log
    yield browser_page
    browser_page.goto("about:blank")  # no page left polling the live server after the test
    # The test's ORM calls ran beside Playwright's event loop; close their connection here
    # (PostgreSQL cannot drop a test database that still has a session).
    connections.close_all()


def go(page, name: str, *args) -> None:
    page.goto(page.base_url + reverse(f"automations:{name}", args=args))


def upload_on_workflow_page(page, workflow: Workflow, names: list[str]) -> None:
    go(page, "workflow", workflow.pk)
    form = page.get_by_test_id("workflow-upload")
    form.locator("input[type=file]").set_input_files([str(DATA / name) for name in names])
    form.get_by_role("button", name="Upload and run").click()
    page.wait_for_load_state()


def runs_of(workflow: Workflow):
    return Run.objects.filter(workflow=workflow, is_test=False)


def all_finished(workflow: Workflow, count: int):
    def check():
        runs = list(runs_of(workflow))
        return len(runs) == count and not any(r.is_active for r in runs)

    return check


# --- 1. the invoice flow ----------------------------------------------------------------


def test_invoices_run_through_a_published_template_and_download_as_csv(
    page,
    webhook_receiver,  # noqa: F811  (the fixture imported above)
    owner_account,
):
    from playwright.sync_api import expect

    base, received, worker = webhook_receiver.url, webhook_receiver.requests, page.worker_log
    org = owner_account.organization

    # The template, in the builder.
    go(page, "workflows")
    page.get_by_role("link", name="New workflow").first.click()
    page.get_by_test_id("template-invoice-intake").get_by_role(
        "button", name="Use this template"
    ).click()
    page.wait_for_url(re.compile(r"/workflows/\d+/builder/"))
    workflow = Workflow.objects.get(organization=org)
    assert workflow.name == "Invoice intake to CSV and webhook"

    # The accounting system's address and secret (typed into the webhook step's form by the
    # builder's own browser test; set here through the service), then publish in the builder.
    steps = copy.deepcopy(workflow.draft)
    send = next(step for step in steps if step["step"] == "webhook")
    send["config"].update(url=f"{base}/accounting", secret=SECRET)
    save_draft(workflow, steps, user=owner_account.user)
    page.reload()

    # A test of the draft on one invoice (a run marked as a test, left out of exports).
    page.get_by_test_id("test-file").set_input_files(str(DATA / "AmazonWebServices.pdf"))
    page.get_by_test_id("run-test").click()
    wait_for(
        lambda: (
            Run.objects.filter(workflow=workflow, is_test=True)
            .exclude(status__in=Run.ACTIVE)
            .first()
        ),
        RUN_TIMEOUT,
        "the test of the draft",
        worker,
    )
    test_run = Run.objects.get(workflow=workflow, is_test=True)
    assert (test_run.status, test_run.error) == (Run.Status.SUCCEEDED, "")

    page.get_by_test_id("publish-note").fill("Our accounting webhook")
    page.get_by_test_id("publish").click()
    wait_for(lambda: Workflow.objects.get(pk=workflow.pk).current_version_id, 30, "the publication")
    workflow.refresh_from_db()
    assert workflow.current_version.number == 1
    assert workflow.current_version.note == "Our accounting webhook"

    # Three invoices, uploaded on the workflow page.
    upload_on_workflow_page(page, workflow, list(INVOICES))
    expect(page.locator(".message.success")).to_contain_text("Running them through version 1")
    wait_for(all_finished(workflow, 3), RUN_TIMEOUT, "three runs to finish", worker)
    failed = [(r.document.original_name, r.error) for r in runs_of(workflow) if r.error]
    assert failed == []
    assert {r.status for r in runs_of(workflow)} == {Run.Status.SUCCEEDED}
    # The rows followed the runs without a reload (htmx polls the active ones).
    succeeded = page.locator('tr.run-row td.run-state[data-status="succeeded"]')
    expect(succeeded).to_have_count(3, timeout=15_000)
    screenshot(page, "invoice-flow-workflow.png")

    # The CSV, downloaded from the workflow page.
    export = page.get_by_test_id("workflow-export")
    export.get_by_label("Format").select_option("csv")
    with page.expect_download() as download:
        export.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename.endswith(".csv")
    text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"vendor", "date", "total"} <= set(rows[0])
    found = {row["document"]: (row["vendor"], row["date"], row["total"]) for row in rows}
    assert found == INVOICES
    assert {row["status"] for row in rows} == {"succeeded"}

    assert len(rows) == 3  # the test of the draft is not in the export

    # Each invoice reached the accounting webhook, signed (the test's delivery first).
    assert len(received) == 4
    delivered = {}
    for request in received:
        headers = request.headers
        assert verify_signature(
            SECRET, headers["x-pyq-timestamp"], request.body, headers["x-pyq-signature"]
        )
        body = request.json()
        data = body["data"]
        delivered[body["document"]["name"]] = (data["vendor"], data["date"], data["total"])
    assert delivered == INVOICES

    # One run's page: every step succeeded, the fields as a table.
    run = runs_of(workflow).get(document__original_name="QualityHosting.pdf")
    go(page, "run", run.pk)
    steps = page.locator("li.step-card")
    expect(steps).to_have_count(5)
    expect(page.locator('li.step-card[data-status="succeeded"]')).to_have_count(5)
    fields = page.locator("#step-fields table.fields")
    expect(fields).to_contain_text("QualityHosting AG")
    expect(fields).to_contain_text("34.73")
    screenshot(page, "invoice-flow-run.png")

    # The run list, filtered to the workflow; the workflows; the history.
    go(page, "runs")
    page.get_by_label("Workflow").select_option(label=workflow.name)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr.run-row")).to_have_count(3)
    screenshot(page, "invoice-flow-runs.png")
    go(page, "workflows")
    expect(page.locator("table.workflows")).to_contain_text("Version 1")
    screenshot(page, "invoice-flow-workflows.png")
    go(page, "workflow_history", workflow.pk)
    expect(page.locator("#version-1")).to_contain_text("Our accounting webhook")
    screenshot(page, "invoice-flow-history.png")
    assert page.js_errors == []


# --- 2. a failing webhook, fixed, retried from its step -----------------------------------


def test_a_failing_webhook_shows_each_attempt_and_retrying_the_fix_delivers_it(
    page,
    webhook_receiver,  # noqa: F811  (the fixture imported above)
    owner_account,
):
    from playwright.sync_api import expect

    base, received, worker = webhook_receiver.url, webhook_receiver.requests, page.worker_log
    webhook_receiver.status = 500  # until the URL is fixed
    org = owner_account.organization
    read = {"id": "text", "step": "extract_text"}
    fields = {"id": "fields", "step": "extract_fields", "config": {"preset": "invoice"}}
    payload = {"vendor": "fields.fields.vendor.value", "total": "fields.fields.total.value"}
    hook = {
        "id": "send",
        "step": "webhook",
        "config": {"url": f"{base}/broken", "attempts": 2, "payload": payload},
    }
    workflow = create_workflow(org, "Invoices to accounting", steps=[read, fields, hook])
    publish(workflow, user=owner_account.user)

    upload_on_workflow_page(page, workflow, ["QualityHosting.pdf"])
    wait_for(all_finished(workflow, 1), RUN_TIMEOUT, "the run to finish", worker)
    run = runs_of(workflow).get()
    assert run.status == Run.Status.FAILED

    # The run page shows both attempts with the receiver's answer.
    go(page, "run", run.pk)
    send = page.locator("#step-send")
    expect(send).to_have_attribute("data-status", "failed")
    attempts = send.locator("table.attempts tbody tr")
    expect(attempts).to_have_count(2)
    for n in range(2):
        expect(attempts.nth(n).locator("td").nth(0)).to_have_text(str(n + 1))
        expect(attempts.nth(n).locator("td").nth(1)).to_have_text("500")
        expect(attempts.nth(n).locator("td").nth(3)).to_contain_text("The receiver answered 500")
    expect(page.locator("#step-text")).to_have_attribute("data-status", "succeeded")
    screenshot(page, "failed-webhook-run.png")
    earlier = {
        s.step_id: (s.pk, s.finished_at, s.attempts) for s in run.steps.exclude(step_id="send")
    }
    assert set(earlier) == {"text", "fields"}

    # The fixed URL is version 2; retry the run from the failed step.
    fixed = copy.deepcopy(hook)
    fixed["config"]["url"] = f"{base}/accounting"
    webhook_receiver.status = 200
    save_draft(workflow, [read, fields, fixed], user=owner_account.user)
    publish(workflow, user=owner_account.user, note="The right URL")
    page.reload()
    expect(page.get_by_role("button", name="Re-run on version 2")).to_be_visible()
    page.get_by_role("button", name="Retry from failed step").click()
    expect(page.locator(".message")).to_contain_text("from the step that stopped with version 2")
    expect(page.locator("#run-live")).to_have_attribute("data-status", "succeeded", timeout=60_000)

    send = page.locator("#step-send")
    expect(send).to_have_attribute("data-status", "succeeded")
    attempts = send.locator("table.attempts tbody tr")
    expect(attempts).to_have_count(1)
    expect(attempts.first.locator("td").nth(1)).to_have_text("200")
    screenshot(page, "retried-webhook-run.png")

    run.refresh_from_db()
    assert run.workflow_version.number == 2
    assert {
        s.step_id: (s.pk, s.finished_at, s.attempts) for s in run.steps.exclude(step_id="send")
    } == earlier  # the earlier steps did not run again
    assert run.steps.get(step_id="send").status == StepRun.Status.SUCCEEDED
    assert [r.path for r in received] == ["/broken", "/broken", "/accounting"]
    assert received[-1].json()["data"] == {
        "vendor": "QualityHosting AG",
        "total": "34.73",
    }
    assert page.js_errors == []
