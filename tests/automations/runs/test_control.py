"""Cancel a run; retry one from the step that failed, with the workflow's fixed version."""

import pytest

from automations.models import Run, StepRun
from automations.runs.control import RunStateError, cancel_run, retry_run
from automations.runs.execute import execute_run
from automations.runs.services import RunServices
from automations.workflows import (
    create_workflow,
    publish,
    save_draft,
    start_test_run,
    start_workflow_run,
)
from tests.automations.helpers import make_document


def test_a_queued_run_is_canceled_and_its_message_then_does_nothing(owner):
    run = make_document(owner.org, "a.txt", b"some text here").runs.get()
    cancel_run(run, user=owner.user)
    execute_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.error) == (Run.Status.CANCELED, f"Canceled by {owner.user.email}.")
    assert run.steps.count() == 0


def test_a_running_run_stops_before_its_next_step(owner, monkeypatch):
    run = make_document(owner.org, "a.txt", b"Invoice 42, total 9.00").runs.get()
    store_page = RunServices.store_page

    def store_then_cancel(self, result):
        store_page(self, result)
        cancel_run(self.run)

    monkeypatch.setattr(RunServices, "store_page", store_then_cancel)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELED
    assert [s.step for s in run.steps.all()] == ["extract_text"]  # classify never started


def test_a_finished_run_cannot_be_canceled_or_a_succeeded_one_retried(owner):
    run = make_document(owner.org, "a.txt", b"Invoice 42, total 9.00").runs.get()
    execute_run(run.pk)
    with pytest.raises(RunStateError, match="already succeeded"):
        cancel_run(run)
    with pytest.raises(RunStateError, match="Only a failed or canceled run"):
        retry_run(run)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED


def test_fixing_the_webhook_and_retrying_delivers_without_rerunning_earlier_steps(
    owner, receiver, settings
):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    url = receiver.url + "/hook"
    read = {"id": "text", "step": "extract_text"}
    sort = {"id": "type", "step": "classify", "config": {"labels": ["invoice", "recipe"]}}
    broken = {
        "id": "hook",
        "step": "webhook",
        "config": {"url": "http://127.0.0.1:9/x", "attempts": 1},
    }
    workflow = create_workflow(owner.org, "Invoices", steps=[read, sort, broken])
    publish(workflow)
    document = make_document(owner.org, "i.txt", b"Invoice 42 from Acme, total due 93.50 EUR")
    run = start_workflow_run(workflow, document)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    failed_hook = run.steps.get(step_id="hook")
    assert failed_hook.status == StepRun.Status.FAILED
    assert [a["status"] for a in failed_hook.output["attempts"]] == [None]  # connection refused
    earlier = {
        s.step_id: (s.pk, s.finished_at) for s in run.steps.filter(step_id__in=["text", "type"])
    }

    save_draft(workflow, [read, sort, {**broken, "config": {"url": url, "attempts": 1}}])
    fixed = publish(workflow)
    retry_run(run, user=owner.user)
    execute_run(run.pk)
    run.refresh_from_db()

    assert run.status == Run.Status.SUCCEEDED
    assert run.workflow_version == fixed
    assert {
        s.step_id: (s.pk, s.finished_at) for s in run.steps.filter(step_id__in=["text", "type"])
    } == earlier
    assert run.steps.get(step_id="hook").output["delivered"] is True
    assert len(receiver.requests) == 1
    assert receiver.json()[0]["data"]["type"]["label"] == "invoice"


def test_retrying_the_whole_run_starts_a_new_run_of_the_current_version(owner):
    workflow = create_workflow(owner.org, "Sort", steps=[{"id": "text", "step": "extract_text"}])
    version = publish(workflow)
    run = start_workflow_run(workflow, make_document(owner.org, "b.png", b"not really a png"))
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    run.refresh_from_db()
    again = retry_run(run, whole=True)
    assert again.pk != run.pk
    assert (again.status, again.trigger, again.workflow_version) == (
        Run.Status.QUEUED,
        Run.Trigger.RETRY,
        version,
    )


def test_retrying_a_whole_test_of_a_draft_runs_the_draft_again_as_a_test(owner):
    steps = [{"id": "text", "step": "extract_text"}]
    workflow = create_workflow(owner.org, "Draft only", steps=steps)
    run = start_test_run(workflow, make_document(owner.org, "c.txt", b"some text here"))
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    run.refresh_from_db()
    again = retry_run(run, whole=True)
    assert again.pk != run.pk
    assert (again.is_test, again.workflow, again.pipeline) == (True, workflow, steps)
    assert again.trigger == Run.Trigger.RETRY


def invoice_rule(label: str) -> dict:
    return {"match": "all", "rules": [{"ref": "type.label", "op": "is", "value": label}]}


def test_retrying_a_run_with_a_skipped_branch_keeps_finished_steps_and_skips_again(
    owner, receiver, settings
):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    url = receiver.url + "/hook"
    read = {"id": "text", "step": "extract_text"}
    sort = {"id": "type", "step": "classify", "config": {"labels": ["invoice", "recipe"]}}
    recipes = {"id": "recipes", "step": "tag", "config": {"tags": ["recipe"]}}
    recipes["when"] = invoice_rule("recipe")
    hook = {"id": "hook", "step": "webhook", "otherwise_of": "recipes"}
    broken = {**hook, "config": {"url": "http://127.0.0.1:9/x", "attempts": 1}}
    workflow = create_workflow(owner.org, "Invoices", steps=[read, sort, recipes, broken])
    publish(workflow)
    document = make_document(owner.org, "i.txt", b"Invoice 42 from Acme, total due 93.50 EUR")
    run = start_workflow_run(workflow, document)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert [s.status for s in run.steps.all()] == ["succeeded", "succeeded", "skipped", "failed"]
    earlier = {
        s.step_id: (s.pk, s.finished_at) for s in run.steps.filter(step_id__in=["text", "type"])
    }

    save_draft(workflow, [read, sort, recipes, {**hook, "config": {"url": url, "attempts": 1}}])
    publish(workflow)
    retry_run(run, user=owner.user)
    execute_run(run.pk)
    run.refresh_from_db()

    assert run.status == Run.Status.SUCCEEDED
    steps = {s.step_id: s for s in run.steps.all()}
    assert {k: (steps[k].pk, steps[k].finished_at) for k in ("text", "type")} == earlier
    assert steps["recipes"].status == StepRun.Status.SKIPPED
    assert steps["recipes"].log[-1]["message"] == "Skipped: type.label is 'invoice', not 'recipe'."
    assert steps["hook"].status == StepRun.Status.SUCCEEDED
    assert len(receiver.requests) == 1
    document.refresh_from_db()
    assert document.tags == []  # the skipped branch did not tag it


def test_a_new_version_that_changes_a_condition_runs_the_steps_from_there_again(
    owner, receiver, settings
):
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    url = receiver.url + "/hook"
    read = {"id": "text", "step": "extract_text"}
    sort = {"id": "type", "step": "classify", "config": {"labels": ["invoice", "recipe"]}}
    tag = {"id": "tag", "step": "tag", "config": {"tags": ["accounting"]}}
    hook = {"id": "hook", "step": "webhook", "config": {"url": url, "attempts": 1}}
    broken = {**hook, "config": {"url": "http://127.0.0.1:9/x", "attempts": 1}}
    workflow = create_workflow(
        owner.org, "Invoices", steps=[read, sort, {**tag, "when": invoice_rule("recipe")}, broken]
    )
    publish(workflow)
    document = make_document(owner.org, "i.txt", b"Invoice 42 from Acme, total due 93.50 EUR")
    run = start_workflow_run(workflow, document)
    execute_run(run.pk)
    run.refresh_from_db()
    assert [s.status for s in run.steps.all()] == ["succeeded", "succeeded", "skipped", "failed"]
    kept = {s.step_id: s.finished_at for s in run.steps.filter(step_id__in=["text", "type"])}

    save_draft(workflow, [read, sort, {**tag, "when": invoice_rule("invoice")}, hook])
    publish(workflow)
    retry_run(run, user=owner.user)
    execute_run(run.pk)
    run.refresh_from_db()

    assert run.status == Run.Status.SUCCEEDED
    assert {
        s.step_id: s.finished_at for s in run.steps.filter(step_id__in=["text", "type"])
    } == kept
    assert [(s.step_id, s.status) for s in run.steps.all()] == [
        ("text", "succeeded"),
        ("type", "succeeded"),
        ("tag", "succeeded"),
        ("hook", "succeeded"),
    ]
    document.refresh_from_db()
    assert document.tags == ["accounting"]
    assert receiver.json()[0]["data"]["tag"] == {"tags": ["accounting"], "doc_type": ""}
