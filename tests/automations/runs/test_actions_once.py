"""Side effects once, or recognisably again (issue 10, point 5): a step that acts outside Pyq
begins its action before the first attempt, with a key from the run and the step, and records
that on its row. A worker stopped after the webhook went out (or the mail, the table row, a
file) leaves the step running; when it resumes, the webhook carries the same X-Pyq-Delivery,
the mail the same Message-ID (counted once), the table keeps one row, the file one copy, and
the run page says that a delivery was repeated."""

from __future__ import annotations

import io
from email import message_from_bytes
from email.policy import default as email_policy
from typing import ClassVar

import pytest
from django.core import mail

from automations import intake, outbound
from automations.engine.steps import StepContext, StepOutcome
from automations.models import Artifact, Run, SentEmail, StepRun, TableRow
from automations.runs.control import retry_run
from automations.runs.execute import execute_run
from automations.runs.services import RunServices
from tests.automations.helpers import url
from tests.loopback import Receiver


class WorkerKilled(BaseException):
    """A worker killed at this point: nothing contains it, nothing after it runs."""


def kill_after_first(monkeypatch, owner: object, name: str) -> None:
    """`owner.name` does its work, and the first time the worker dies right after."""
    real = getattr(owner, name)
    calls: list[int] = []

    def then_die(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise WorkerKilled()
        return result

    monkeypatch.setattr(owner, name, then_die)


def start(org, steps: list[dict], *names: str) -> list[Run]:
    documents = [
        intake.ingest(org, io.BytesIO(b"Invoice 7, total 9.00"), name, pipeline=steps)
        for name in names or ("a.txt",)
    ]
    return [document.runs.get() for document in documents]


def execute_until_killed(run: Run) -> None:
    """Execute the run, its worker killed midway, and queue it again as recovery does for a
    run whose worker was lost (its step rows stay as the worker left them)."""
    with pytest.raises(WorkerKilled):
        execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, heartbeat_at=None)


def step_of(run: Run, step_id: str) -> StepRun:
    return StepRun.objects.get(run=run, step_id=step_id)


def webhook(receiver: Receiver, **config) -> list[dict]:
    hook = {"url": receiver.url, "attempts": 1, **config}
    return [
        {"id": "text", "step": "extract_text"},
        {"id": "send", "step": "webhook", "config": hook},
    ]


def deliveries(receiver: Receiver) -> list[str]:
    return [request["headers"]["X-Pyq-Delivery"] for request in receiver.requests]


@pytest.fixture
def private_urls(settings) -> None:
    settings.PYQ_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback


def test_a_webhook_resumed_after_its_worker_stopped_sends_the_same_delivery_id(
    member, receiver, private_urls, monkeypatch
):
    [run] = start(member.org, webhook(receiver))
    kill_after_first(monkeypatch, outbound, "post_json")

    execute_until_killed(run)

    [first] = deliveries(receiver)
    sending = step_of(run, "send")
    assert sending.status == StepRun.Status.RUNNING  # the worker died before recording more
    assert (sending.action["kind"], sending.action["key"]) == ("webhook", first)
    assert sending.action["executions"] == 1

    execute_run(run.pk)

    assert deliveries(receiver) == [first, first]
    run.refresh_from_db()
    send = step_of(run, "send")
    assert (run.status, send.status) == (Run.Status.SUCCEEDED, StepRun.Status.SUCCEEDED)
    assert (send.output["delivery"], send.output["repeat"]) == (first, True)
    assert send.action["executions"] == 2
    warnings = [line["message"] for line in send.log if line["level"] == "warning"]
    assert any("before its worker stopped" in line and first in line for line in warnings)
    page = member.client.get(url("run", run.pk)).content.decode()
    assert f"Sent again after a restart, with the same delivery id {first}" in page


def test_only_the_document_that_was_sending_counts_as_a_repeat(
    org, receiver, private_urls, monkeypatch
):
    runs = start(org, webhook(receiver), "a.txt", "b.txt")
    kill_after_first(monkeypatch, outbound, "post_json")

    execute_until_killed(runs[0])  # after a.txt's delivery, before b.txt's
    Run.objects.filter(pk=runs[1].pk).update(status=Run.Status.QUEUED, heartbeat_at=None)
    execute_run(runs[0].pk)  # each was stopped once: from now on each runs alone
    execute_run(runs[1].pk)

    a, b = (step_of(run, "send") for run in runs)
    assert deliveries(receiver) == [a.output["delivery"]] * 2 + [b.output["delivery"]]
    assert a.output["delivery"] != b.output["delivery"]
    assert a.output.get("repeat") is True
    assert "repeat" not in b.output
    assert (a.action["executions"], b.action["executions"]) == (2, 1)


def test_a_retried_run_keeps_its_delivery_id_and_a_new_run_gets_another(
    org, receiver, private_urls
):
    receiver.answer(500)  # the receiver stored it and then failed, say
    [run] = start(org, webhook(receiver))
    execute_run(run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.FAILED

    retry_run(Run.objects.get(pk=run.pk))
    execute_run(run.pk)
    [again] = start(org, webhook(receiver), "b.txt")
    execute_run(again.pk)

    first, retried, other = deliveries(receiver)
    assert retried == first
    assert other != first


def test_a_mail_sent_again_after_a_restart_has_the_same_message_id_and_counts_once(
    member, settings, monkeypatch
):
    settings.PYQ_EMAIL_QUOTA_PER_DAY = 10
    steps = [
        {"id": "text", "step": "extract_text"},
        {"id": "mail", "step": "email", "config": {"to": ["ann@acme.example"]}},
    ]
    [run] = start(member.org, steps)
    kill_after_first(monkeypatch, RunServices, "send_email")

    execute_until_killed(run)
    execute_run(run.pk)

    ids = [
        message_from_bytes(m.message().as_bytes(), policy=email_policy)["Message-ID"]
        for m in mail.outbox
    ]
    step = step_of(run, "mail")
    assert len(ids) == 2
    assert ids[0] == ids[1] == step.output["message_id"]
    assert step.action["key"] in ids[0]
    assert step.output["repeat"] is True
    assert SentEmail.objects.filter(run=run).count() == 1  # the quota counts it once
    page = member.client.get(url("run", run.pk)).content.decode()
    assert "Sent again after a restart, with the same Message-ID" in page


def test_a_table_step_resumed_after_adding_its_row_does_not_add_another(org, monkeypatch):
    steps = [
        {"id": "text", "step": "extract_text"},
        {
            "id": "add",
            "step": "table",
            "config": {"table": "Expenses", "columns": {"pages": "text.pages"}},
        },
    ]
    [run] = start(org, steps)
    kill_after_first(monkeypatch, RunServices, "append_table_row")

    execute_until_killed(run)
    execute_run(run.pk)

    [row] = TableRow.objects.all()
    assert (row.run_id, row.step_id, row.values) == (run.pk, "add", {"pages": "1"})
    assert step_of(run, "add").output["row"] == row.pk
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED


class CopyStep:
    """Keeps a file (as redact keeps its redacted copy), numbered by the time it runs."""

    name = "test_copy"
    kind = "transform"
    label = "Copy"
    description = "Keeps a file."
    config_schema: ClassVar[dict] = {"type": "object", "properties": {}}
    runs: ClassVar[list[str]] = []

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        self.runs.append(context.document.name)
        data = f"copy {len(self.runs)}".encode()
        ref = context.services.save_artifact("copy.txt", data, "text/plain")
        return StepOutcome({"ref": ref})


def test_a_file_kept_again_after_a_restart_replaces_the_first(org, register_steps, monkeypatch):
    register_steps(CopyStep)
    CopyStep.runs.clear()
    [run] = start(org, [{"id": "copy", "step": "test_copy"}])
    kill_after_first(monkeypatch, RunServices, "save_artifact")

    execute_until_killed(run)
    first = Artifact.objects.get()
    execute_run(run.pk)

    [artifact] = Artifact.objects.all()
    assert CopyStep.runs == ["a.txt", "a.txt"]
    assert artifact.uid == first.uid  # the same reference
    assert step_of(run, "copy").output["ref"] == str(first.uid)
    with artifact.file.open("rb") as fh:
        assert fh.read() == b"copy 2"
