"""Run pages: the filtered run list, a run's detail with every step, and what members do
with a run (cancel, retry from the failed step or whole, re-run on a newer version)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from automations.models import Run, StepRun
from automations.runs.execute import execute_run
from automations.runs.services import RunServices
from automations.steps.extract_text import NO_TEXT
from automations.workflows import (
    create_workflow,
    publish,
    save_draft,
    start_test_run,
    start_workflow_run,
)
from tests import files
from tests.automations.helpers import make_document, message_texts, url
from tests.factories import FIELDS, READ, TAG

INVOICE = (
    b"INVOICE\nAcme Supplies Ltd\nInvoice number: INV-1001\nInvoice date: 2025-03-14\n"
    b"Total due: 120.50 EUR\n"
)


def execute(run: Run) -> Run:
    execute_run(run.pk, batch_size=1)
    run.refresh_from_db()
    return run


def workflow_run(workflow, name="a.txt", data=INVOICE, user=None, run_it=True) -> Run:
    document = make_document(workflow.organization, name, data)
    document.runs.all().delete()  # the plain reading an upload queues
    run = start_workflow_run(workflow, document, user=user)
    return execute(run) if run_it else run


@pytest.fixture
def no_pauses(monkeypatch, settings):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    settings.PYQ_STEP_RETRY_BASE = 0.0
    monkeypatch.setattr(RunServices, "sleep", lambda self, seconds: None)


# --- the list -------------------------------------------------------------------------


def test_the_run_list_filters_by_workflow_status_and_day(member, published_workflow):
    ok = workflow_run(published_workflow, "ok.txt")
    bad = workflow_run(published_workflow, "blank.txt", b"   ")
    other = create_workflow(member.org, "Sort", steps=[READ])
    publish(other)
    elsewhere = workflow_run(other, "sorted.txt")
    plain = execute(make_document(member.org, "plain.txt", INVOICE).runs.get())
    old = workflow_run(published_workflow, "old.txt")
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert bad.status == Run.Status.FAILED

    def listed(query: str) -> list[int]:
        response = member.client.get(url("runs") + query)
        assert response.status_code == 200
        return [run.pk for run in response.context["page_obj"]]

    assert listed("") == [plain.pk, elsewhere.pk, bad.pk, ok.pk, old.pk]
    assert listed(f"?workflow={published_workflow.pk}") == [bad.pk, ok.pk, old.pk]
    assert listed(f"?workflow={published_workflow.pk}&status=failed") == [bad.pk]
    assert listed("?workflow=none") == [plain.pk]
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert listed(f"?workflow={published_workflow.pk}&since={since}") == [bad.pk, ok.pk]
    until = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert listed(f"?until={until}") == [old.pk]
    assert listed("?status=nonsense&since=not-a-date") == listed("")  # bad values: no filter


def test_tests_of_drafts_are_listed_only_when_asked(member, published_workflow):
    real = workflow_run(published_workflow)
    test = start_test_run(published_workflow, make_document(member.org, "sample.txt", INVOICE))
    only = f"?workflow={published_workflow.pk}"
    assert [r.pk for r in member.client.get(url("runs") + only).context["page_obj"]] == [real.pk]
    response = member.client.get(url("runs") + only + "&tests=on")
    assert [r.pk for r in response.context["page_obj"]] == [test.pk, real.pk]
    assert "Draft test" in response.content.decode()


def test_the_run_list_keeps_its_filters_across_pages(member, published_workflow):
    for i in range(27):
        workflow_run(published_workflow, f"n{i}.txt", run_it=False)
    response = member.client.get(url("runs") + f"?workflow={published_workflow.pk}&status=queued")
    body = response.content.decode()
    assert len(response.context["page_obj"]) == 25
    assert f"?workflow={published_workflow.pk}&amp;status=queued&amp;page=2" in body
    second = member.client.get(
        url("runs") + f"?workflow={published_workflow.pk}&status=queued&page=2"
    )
    assert len(second.context["page_obj"]) == 2


def test_active_rows_poll_and_show_the_step_at_work(member, published_workflow):
    run = workflow_run(published_workflow, run_it=False)
    body = member.client.get(url("runs")).content.decode()
    assert f'hx-get="{url("run_row", run.pk)}?in=list" hx-trigger="every 2s"' in body
    assert "Waiting for a worker" in body
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    StepRun.objects.create(run=run, position=0, step_id="text", step="extract_text")
    row = member.client.get(url("run_row", run.pk) + "?in=list").content.decode()
    assert "Step 1 of 2: extract text" in row
    assert "Invoice intake" in row
    assert 'name="document"' not in row  # the re-run checkbox is the workflow page's


# --- the detail page ------------------------------------------------------------------


def test_the_run_page_shows_document_version_trigger_and_every_step(member, published_workflow):
    run = workflow_run(published_workflow, user=member.user)

    response = member.client.get(url("run", run.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert url("document", run.document.uid) in body
    assert url("workflow", published_workflow.pk) in body
    assert "Invoice intake</a>, version 1" in body
    assert f"Upload by {member.user.email}" in body
    steps = response.context["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [
        ("text", "succeeded"),
        ("fields", "succeeded"),
    ]
    fields = dict(steps[1]["fields"])
    assert fields["vendor"]["value"] == "Acme Supplies Ltd"
    assert fields["total"]["value"] == "120.50"
    assert "<th>Field</th><th>Value</th><th>Confidence</th>" in body
    assert "Acme Supplies Ltd" in body
    assert 'hx-trigger="every 1s"' not in body  # finished: no polling
    assert "Retry" not in body  # nothing to retry


def test_an_active_run_page_polls_its_live_part(member, published_workflow):
    run = workflow_run(published_workflow, run_it=False)
    body = member.client.get(url("run", run.pk)).content.decode()
    assert f'hx-get="{url("run", run.pk)}?live=1" hx-trigger="every 1s"' in body
    assert "Cancel run" in body
    live = member.client.get(url("run", run.pk) + "?live=1").content.decode()
    assert live.lstrip().startswith('<div id="run-live"')
    assert "<html" not in live
    assert "Not started" in live  # both steps wait
    execute(run)
    live = member.client.get(url("run", run.pk) + "?live=1").content.decode()
    assert "hx-trigger" not in live
    assert "Cancel run" not in live


def test_a_skipped_step_shows_its_condition_and_log(member):
    flow = create_workflow(
        member.org,
        "Only invoices",
        steps=[
            READ,
            {
                **TAG,
                "when": {
                    "match": "all",
                    "rules": [{"ref": "text.pages", "op": "above", "value": 5}],
                },
            },
        ],
    )
    publish(flow)
    run = workflow_run(flow)
    body = member.client.get(url("run", run.pk)).content.decode()
    assert "Runs only when text.pages is above 5." in body
    tag = run.steps.get(step_id="tag")
    assert tag.status == StepRun.Status.SKIPPED
    assert "Skipped" in body
    assert tag.log
    for line in tag.log:
        assert escape(line["message"]) in body


def test_the_step_input_shows_without_the_secret(member):
    run = make_document(member.org, "a.txt", INVOICE).runs.get()
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.FAILED,
        pipeline=[
            READ,
            {"id": "send", "step": "webhook", "config": {"url": "https://x.test", "secret": "k"}},
        ],
    )
    StepRun.objects.create(
        run=run,
        position=1,
        step_id="send",
        step="webhook",
        status=StepRun.Status.FAILED,
        input={"config": {"url": "https://x.test", "secret": "hush-hush"}, "references": {}},
        log=[{"at": "2025-03-14T09:30:05+00:00", "level": "error", "message": "Boom at the door"}],
        attempts=2,
        error="The webhook was not delivered.",
    )
    body = member.client.get(url("run", run.pk)).content.decode()
    assert "hush-hush" not in body
    assert "https://x.test" in body
    assert "Boom at the door" in body
    assert "2 attempts" in body


# --- the failing webhook, fixed and retried from its step (the "Done when") ------


def test_a_failing_webhook_shows_each_attempt_and_a_fix_retried_from_that_step_delivers(
    member, receiver, no_pauses
):
    receiver.answer(500, 500, 500)  # to /broken, then 200 once the URL is fixed
    hook = {
        "id": "send",
        "step": "webhook",
        "config": {"url": receiver.url + "/broken", "attempts": 3, "payload": {}},
    }
    flow = create_workflow(member.org, "Invoices to accounting", steps=[READ, FIELDS, hook])
    publish(flow)
    run = workflow_run(flow)
    assert run.status == Run.Status.FAILED

    page = member.client.get(url("run", run.pk))
    body = page.content.decode()
    send = page.context["steps"][2]
    assert send["status"] == "failed"
    assert [(a["n"], a["status"]) for a in send["webhook_attempts"]] == [
        (1, 500),
        (2, 500),
        (3, 500),
    ]
    assert "<th>Attempt</th><th>Status code</th><th>Duration</th><th>Error</th>" in body
    assert body.count("The receiver answered 500") >= 3
    assert "Retry from failed step" in body
    assert "Retry whole run" in body
    assert len(receiver.requests) == 3
    earlier = {s.step_id: (s.pk, s.finished_at) for s in run.steps.exclude(step_id="send")}

    # Fix the URL: a new version.
    save_draft(
        flow,
        [READ, FIELDS, {**hook, "config": {**hook["config"], "url": receiver.url + "/ok"}}],
    )
    fixed = publish(flow, user=member.user, note="Right URL")
    assert "Re-run on version 2" in member.client.get(url("run", run.pk)).content.decode()

    response = member.client.post(url("run_retry", run.pk))

    assert response.status_code == 302
    assert response.url == url("run", run.pk)
    assert message_texts(response) == [
        f"Retrying run {run.pk} from the step that stopped with version 2."
    ]
    run = execute(run)
    assert run.status == Run.Status.SUCCEEDED
    assert run.workflow_version == fixed
    assert {s.step_id: (s.pk, s.finished_at) for s in run.steps.exclude(step_id="send")} == earlier
    assert [r["path"] for r in receiver.requests] == ["/broken"] * 3 + ["/ok"]
    page = member.client.get(url("run", run.pk))
    send = page.context["steps"][2]
    assert send["status"] == "succeeded"
    assert [(a["n"], a["status"], a["error"]) for a in send["webhook_attempts"]] == [(1, 200, "")]
    assert "Re-run on version" not in page.content.decode()


def test_retrying_the_whole_run_starts_a_new_run(member, published_workflow):
    run = workflow_run(published_workflow, "blank.txt", b"   ")
    assert run.status == Run.Status.FAILED
    response = member.client.post(url("run_retry", run.pk), {"whole": "1"})
    again = Run.objects.exclude(pk=run.pk).get()
    assert response.url == url("run", again.pk)
    assert (again.trigger, again.workflow_version, again.triggered_by) == (
        Run.Trigger.RETRY,
        published_workflow.current_version,
        member.user,
    )
    assert message_texts(response) == [f"Started run {again.pk}: every step again."]


def test_a_failed_test_of_a_draft_runs_again_from_the_builder_not_as_a_whole(
    member, published_workflow
):
    sample = make_document(member.org, "blank.txt", b"   ")
    sample.runs.all().delete()
    test = execute(start_test_run(published_workflow, sample))
    assert test.status == Run.Status.FAILED
    body = member.client.get(url("run", test.pk)).content.decode()
    assert "Retry whole run" not in body
    assert "Draft test" in body
    response = member.client.post(url("run_retry", test.pk), {"whole": "1"})
    assert message_texts(response) == ["A test of a draft runs again from the builder."]
    assert list(Run.objects.all()) == [test]


def test_a_succeeded_run_cannot_be_retried_and_says_why(member, published_workflow):
    run = workflow_run(published_workflow)
    response = member.client.post(url("run_retry", run.pk))
    assert message_texts(response) == ["Only a failed or canceled run can be retried."]
    assert Run.objects.count() == 1


def test_re_running_on_the_newer_version_starts_a_run_of_it(member, published_workflow):
    run = workflow_run(published_workflow)
    assert "Re-run on version" not in member.client.get(url("run", run.pk)).content.decode()
    save_draft(published_workflow, [READ, FIELDS, TAG])
    newer = publish(published_workflow)

    response = member.client.post(url("run_rerun", run.pk))

    again = Run.objects.exclude(pk=run.pk).get()
    assert response.url == url("run", again.pk)
    assert (again.trigger, again.workflow_version, again.document) == (
        Run.Trigger.RERUN,
        newer,
        run.document,
    )
    assert message_texts(response) == [f"Started run {again.pk} of a.txt on version 2."]


def test_a_queued_run_is_canceled_and_a_finished_one_says_why_not(member, published_workflow):
    run = workflow_run(published_workflow, run_it=False)
    response = member.client.post(url("run_cancel", run.pk))
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELED
    assert message_texts(response) == [f"Canceled run {run.pk}."]
    body = member.client.get(url("run", run.pk)).content.decode()
    assert "Resume where it stopped" in body
    assert "Retry whole run" in body
    again = member.client.post(url("run_cancel", run.pk))
    assert message_texts(again) == [f"Run {run.pk} has already canceled."]


# --- who may do what ------------------------------------------------------------------

ACTIONS = ["run_cancel", "run_retry", "run_rerun"]


def test_a_viewer_sees_a_run_without_buttons_and_cannot_act(viewer, published_workflow):
    failed = workflow_run(published_workflow, "blank.txt", b"   ")
    queued = workflow_run(published_workflow, "q.txt", run_it=False)
    save_draft(published_workflow, [READ])
    publish(published_workflow)
    body = viewer.client.get(url("run", failed.pk)).content.decode()
    assert "Retry" not in body
    assert "Re-run" not in body
    assert "Cancel run" not in viewer.client.get(url("run", queued.pk)).content.decode()
    for name in ACTIONS:
        for run in (failed, queued):
            assert viewer.client.post(url(name, run.pk), {"whole": "1"}).status_code == 403
    assert Run.objects.count() == 2
    failed.refresh_from_db()
    queued.refresh_from_db()
    assert (failed.status, queued.status) == (Run.Status.FAILED, Run.Status.QUEUED)


@pytest.mark.parametrize("name", ["run", "run_row", "run_progress"])
def test_another_organization_gets_404_for_a_run(outsider, published_workflow, name):
    run = workflow_run(published_workflow)
    assert outsider.client.get(url(name, run.pk)).status_code == 404
    assert outsider.client.get(url(name, run.pk) + "?live=1").status_code == 404


@pytest.mark.parametrize("name", ACTIONS)
def test_another_organization_cannot_act_on_a_run(outsider, published_workflow, name):
    failed = workflow_run(published_workflow, "blank.txt", b"   ")
    save_draft(published_workflow, [READ])
    publish(published_workflow)
    assert outsider.client.post(url(name, failed.pk), {"whole": "1"}).status_code == 404
    failed.refresh_from_db()
    assert failed.status == Run.Status.FAILED
    assert Run.objects.count() == 1


def test_the_run_list_of_another_organization_is_empty(outsider, published_workflow):
    workflow_run(published_workflow)
    response = outsider.client.get(url("runs") + f"?workflow={published_workflow.pk}")
    assert list(response.context["page_obj"]) == []
    assert "a.txt" not in response.content.decode()


@pytest.mark.parametrize("name", ["run", "run_row"])
def test_anonymous_is_sent_to_login(client, published_workflow, name):
    run = workflow_run(published_workflow, run_it=False)
    response = client.get(url(name, run.pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_active_run_polls_and_finished_run_stops(member):
    doc = make_document(member.org, "a.txt", b"hello there")
    run = doc.runs.get()
    url = reverse("automations:run_progress", args=[run.pk])
    queued = member.client.get(url)
    assert 'hx-trigger="every 1s"' in queued.content.decode()
    assert "Waiting for a worker" in queued.content.decode()
    execute_run(run.pk)
    done = member.client.get(url + "?reload=1", HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in done.content.decode()
    assert done["HX-Refresh"] == "true"
    assert 'value="100"' in done.content.decode()


def test_run_list_filters_by_status(member):
    ok = make_document(member.org, "ok.txt", b"fine text")
    bad = make_document(member.org, "blank.png", files.blank_image())
    execute_run(ok.runs.get().pk)
    execute_run(bad.runs.get().pk)
    response = member.client.get(reverse("automations:runs") + "?status=failed")
    assert [r.document.original_name for r in response.context["page_obj"]] == ["blank.png"]
    assert NO_TEXT in response.content.decode()
