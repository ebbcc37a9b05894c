"""A run reads a document page by page; failures end the run with a readable message."""

import io
import time
from datetime import timedelta
from typing import ClassVar

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from automations import intake
from automations.engine.refs import resolve
from automations.engine.steps import (
    StepContext,
    StepFailed,
    StepOutcome,
    StepTransient,
)
from automations.models import Document, Page, Run, StepRun
from automations.runs import execute as executor
from automations.runs import recovery, tasks
from automations.runs.claim import MAX_RUN_ATTEMPTS, RunBusy, worker_name
from automations.runs.control import cancel_run, reprocess, retry_run, start_run
from automations.runs.execute import execute_run
from automations.runs.store import StepRunStore
from automations.steps.extract_text import NO_TEXT
from tests import files
from tests.automations.helpers import make_document


def run_of(document: Document) -> Run:
    return document.runs.get()


def execute(document: Document) -> Run:
    run = run_of(document)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_pdf_text_layer_is_stored_per_page_with_page_images(org):
    document = make_document(
        org,
        "two.pdf",
        files.text_pdf(["Invoice 4721 from Acme Supplies", "Total due 93.50 EUR by 2026-12-01"]),
    )
    run = execute(document)
    assert run.status == Run.Status.SUCCEEDED
    assert (run.pages_done, run.pages_total, run.error) == (2, 2, "")
    assert run.started_at <= run.finished_at
    pages = list(document.pages.all())
    assert [(p.number, p.method, p.text.strip()) for p in pages] == [
        (1, "text_layer", "Invoice 4721 from Acme Supplies"),
        (2, "text_layer", "Total due 93.50 EUR by 2026-12-01"),
    ]
    assert all(p.ocr_confidence is None for p in pages)
    assert all(p.image.name.endswith(f"/pages/{p.number}.jpg") for p in pages)
    assert all(p.width > 0 and p.height > 0 for p in pages)
    step = run.steps.get(step="extract_text")
    assert (step.step_id, step.status) == ("text", StepRun.Status.SUCCEEDED)
    assert (step.output["pages"], step.output["kind"], step.output["ocr_engine"]) == (
        2,
        "pdf",
        None,
    )
    assert step.output["language"]["language"] == "en"
    assert [s.step for s in run.steps.all()] == [
        "extract_text",
        "classify",
        "extract_fields",
        "similar_documents",
    ]
    assert all(s.status == StepRun.Status.SUCCEEDED for s in run.steps.all())
    assert run.output_of("classify")["label"] == "invoice"


def test_scanned_image_is_read_by_ocr_with_confidence_and_boxes(org):
    document = make_document(org, "r.png", files.text_image(["RECEIPT 7731", "TOTAL 45.20"]))
    run = execute(document)
    assert run.status == Run.Status.SUCCEEDED
    page = document.pages.get()
    assert page.method == "ocr"
    words = page.text.upper().split()
    assert {"RECEIPT", "7731", "TOTAL", "45.20"} <= set(words)
    assert 0.5 < page.ocr_confidence <= 1
    assert page.lines
    for line in page.lines:
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 <= page.width
        assert 0 <= y0 < y1 <= page.height


def test_scanned_pdf_page_is_read_by_ocr(org):
    document = make_document(org, "scan.pdf", files.scanned_pdf(["INVOICE 5531"]))
    run = execute(document)
    assert run.status == Run.Status.SUCCEEDED
    page = document.pages.get()
    assert page.method == "ocr"
    assert "5531" in page.text


def test_short_digital_pdf_page_keeps_its_text_layer_without_ocr(org):
    document = make_document(org, "short.pdf", files.text_pdf(["Total 9.50"]))
    execute(document)
    page = document.pages.get()
    assert (page.method, page.text.strip(), page.lines) == ("text_layer", "Total 9.50", [])


def test_docx_and_text_are_read_without_ocr(org):
    word = make_document(org, "letter.docx", files.docx_file(["Dear Sir,", "Amount 120.00"]))
    plain = make_document(org, "note.txt", "Café Ωmega 42".encode())
    assert execute(word).status == Run.Status.SUCCEEDED
    assert execute(plain).status == Run.Status.SUCCEEDED
    assert word.pages.get().text.split("\n")[:2] == ["Dear Sir,", "Amount 120.00"]
    assert (plain.pages.get().text.strip(), plain.pages.get().method) == ("Café Ωmega 42", "text")


def test_email_body_is_read_and_each_attachment_becomes_its_own_document(
    org, django_capture_on_commit_callbacks
):
    mail = files.eml_file(
        "Please find our invoice attached.",
        [
            ("invoice.pdf", "application/pdf", files.text_pdf(["Invoice 88"])),
            ("photo.png", "image/png", files.text_image(["TOTAL 9.99"])),
            ("tool.exe", "application/octet-stream", b"MZ" + bytes(300)),
        ],
    )
    document = make_document(org, "mail.eml", mail)
    with django_capture_on_commit_callbacks() as callbacks:
        run = execute(document)
    assert run.status == Run.Status.SUCCEEDED
    text = document.pages.get().text
    assert "Subject: Invoice attached" in text
    assert "Please find our invoice attached." in text
    children = document.attachments.order_by("original_name")
    assert [(c.original_name, c.kind, c.source) for c in children] == [
        ("invoice.pdf", "pdf", "email"),
        ("photo.png", "png", "email"),
    ]
    assert [c.runs.get().status for c in children] == ["queued", "queued"]
    assert len(callbacks) == 1  # saved together: one message to the workers for both runs
    skipped = [w for w in run.warnings if w.startswith("Attachment")]
    assert len(skipped) == 1
    assert skipped[0].startswith("Attachment tool.exe was skipped:")
    # Redelivered after its worker died: the attachments are not made twice.
    stale = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=stale, lease_until=stale
    )
    StepRun.objects.filter(run=run).delete()
    execute_run(run.pk)
    assert document.attachments.count() == 2


def test_image_without_text_fails_with_a_readable_message(org):
    document = make_document(org, "blank.png", files.blank_image())
    run = execute(document)
    assert run.status == Run.Status.FAILED
    assert run.error == NO_TEXT
    assert run.steps.get().status == StepRun.Status.FAILED  # nothing ran after it
    assert run.finished_at is not None


def test_file_damaged_in_storage_fails_the_run_instead_of_hanging(org):
    document = make_document(org, "a.pdf", files.text_pdf(["Invoice 1"]))
    with document.file.open("wb") as fh:
        fh.write(b"%PDF-1.4\n garbage")
    run = execute(document)
    assert run.status == Run.Status.FAILED
    assert "damaged or incomplete" in run.error


def test_finished_run_is_not_executed_again(org):
    document = make_document(org, "n.txt", b"first text")
    run = execute(document)
    Page.objects.filter(document=document).update(text="edited")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.attempts == 1
    assert document.pages.get().text == "edited"


def test_redelivered_run_resumes_after_the_last_stored_page(org, monkeypatch):
    document = make_document(org, "three.pdf", files.text_pdf(["one", "two", "three"]))
    run = run_of(document)
    Page.objects.create(
        document=document, number=1, text="kept from attempt 1", method="text_layer"
    )
    Page.objects.create(
        document=document, number=2, text="kept from attempt 1", method="text_layer"
    )
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, attempts=1)
    execute_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 2)
    assert [p.text.strip() for p in document.pages.all()] == [
        "kept from attempt 1",
        "kept from attempt 1",
        "three",
    ]


def test_redelivered_run_skips_the_steps_it_finished(org):
    document = make_document(org, "n.txt", b"Invoice 4721, total due 93.50 EUR")
    run = run_of(document)
    Page.objects.create(document=document, number=1, text="Invoice 4721", method="text")
    StepRun.objects.create(
        run=run,
        position=0,
        step_id="text",
        step="extract_text",
        status=StepRun.Status.SUCCEEDED,
        output={"pages": 1, "marker": "first attempt"},
    )
    StepRun.objects.create(
        run=run,
        position=1,
        step_id="type",
        step="classify",
        status=StepRun.Status.SUCCEEDED,
        output={"label": "receipt", "score": 0.9, "top": []},
    )
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, attempts=1)
    run = execute(document)
    assert run.status == Run.Status.SUCCEEDED
    steps = {s.step_id: s for s in run.steps.all()}
    assert steps["text"].output["marker"] == "first attempt"
    assert steps["type"].output["label"] == "receipt"
    # extract_fields ran after the stored classify result, so it used the receipt preset.
    assert steps["fields"].output["preset"] == "receipt"
    assert steps["duplicates"].status == StepRun.Status.SUCCEEDED


def test_one_worker_call_takes_other_queued_runs_and_batches_them(org):
    first = make_document(org, "a.txt", b"Invoice 1 total 10.00 due now")
    second = make_document(org, "b.txt", b"Dear Ann, thank you for your letter.")
    execute_run(run_of(first).pk)
    assert [run_of(d).status for d in (first, second)] == ["succeeded", "succeeded"]
    assert run_of(second).output_of("classify")["label"] == "letter"
    # The second message arrives later and finds its run done.
    execute_run(run_of(second).pk)
    assert run_of(second).attempts == 1


def test_a_batch_takes_many_short_documents_but_few_scans(org, settings):
    settings.PYQ_BATCH_PAGES = 2
    scans = [
        make_document(org, f"scan{i}.png", files.text_image([f"TOTAL {i}.00"])) for i in range(3)
    ]
    notes = [make_document(org, f"note{i}.txt", f"note number {i}".encode()) for i in range(4)]
    execute_run(run_of(scans[0]).pk)
    # Two pages of scans fit; the third scan waits, every text document came along.
    assert [run_of(d).status for d in scans] == ["succeeded", "succeeded", "queued"]
    assert {run_of(d).status for d in notes} == {"succeeded"}


def _queries_for_a_batch(org, count: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pipeline = [
        {"id": "text", "step": "extract_text"},
        {"id": "type", "step": "classify", "config": {"labels": ["invoice", "letter"]}},
    ]
    documents = [
        intake.ingest(org, io.BytesIO(f"letter {i} to you".encode()), f"{i}.txt", pipeline=pipeline)
        for i in range(count)
    ]
    with CaptureQueriesContext(connection) as queries:
        execute_run(run_of(documents[0]).pk)
    assert {run_of(d).status for d in documents} == {"succeeded"}
    return len(queries)


def test_a_batch_writes_its_step_rows_together(org):
    """The pages and step rows of a batch are written in a few statements for all its
    documents: ten more documents cost no more queries, not several each."""
    small = _queries_for_a_batch(org, 3)
    Run.objects.all().delete()
    large = _queries_for_a_batch(org, 13)
    assert large - small <= 2


def test_two_copies_in_one_batch_are_flagged_as_duplicates(org):
    text = b"Invoice 4721 from Acme Supplies, total due 93.50 EUR by 1 December 2026"
    first = make_document(org, "a.txt", text)
    second = make_document(org, "copy.txt", text)
    execute_run(run_of(first).pk)
    result = run_of(second).output_of("similar_documents")
    assert result["is_duplicate"] is True
    assert result["duplicates"][0]["document"] == str(first.uid)
    assert result["duplicates"][0]["score"] >= 0.99
    assert run_of(first).output_of("similar_documents")["is_duplicate"] is False


def test_a_run_held_by_a_live_worker_is_not_taken_twice(org):
    document = make_document(org, "a.txt", b"some text here")
    run = run_of(document)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(RunBusy):
        execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    execute_run(run.pk)  # the first worker died: this one resumes it
    assert run_of(document).status == Run.Status.SUCCEEDED


def test_run_of_a_deleted_document_is_ignored(org):
    document = make_document(org, "gone.txt", b"bye")
    run_id = run_of(document).pk
    document.delete()
    execute_run(run_id)  # returns quietly
    assert not Run.objects.filter(pk=run_id).exists()


def test_pdf_over_the_page_limit_fails_with_the_numbers(org, settings):
    document = make_document(org, "long.pdf", files.text_pdf(["p"] * 4))
    settings.PYQ_MAX_PAGES = 3
    run = execute(document)
    assert run.status == Run.Status.FAILED
    assert "4" in run.error
    assert "3" in run.error


def test_stuck_running_runs_are_failed_with_a_reason(org, settings):
    settings.PYQ_RUN_TIME_LIMIT = 60
    stuck = run_of(make_document(org, "a.txt", b"a"))
    alive = run_of(make_document(org, "b.txt", b"b"))
    now = timezone.now()
    Run.objects.filter(pk=stuck.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=now - timedelta(minutes=10)
    )
    Run.objects.filter(pk=alive.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=now - timedelta(seconds=30)
    )
    assert recovery.fail_stuck_runs(now) == 1
    stuck.refresh_from_db()
    alive.refresh_from_db()
    assert stuck.status == Run.Status.FAILED
    assert "stopped responding" in stuck.error
    assert alive.status == Run.Status.RUNNING


@pytest.mark.parametrize("status", [Run.Status.SUCCEEDED, Run.Status.FAILED])
def test_reprocess_makes_a_new_run(org, status):

    document = make_document(org, "n.txt", b"text")
    Run.objects.filter(document=document).update(status=status)
    run = reprocess(document)
    assert run.status == Run.Status.QUEUED
    assert run.trigger == Run.Trigger.RETRY
    assert document.runs.count() == 2


# --- conditions, step input and log, transient retries ---------------------------------------

CALLS: list[tuple[str, str]] = []  # (step id, document name) of the test steps below
TRANSIENT_LEFT: dict[str, int] = {}  # document name -> transient failures still to raise


class EmitStep:
    """Outputs its configuration's `output`, or `by_name[document name]`."""

    name = "test_emit"
    kind = "understand"
    label = "Emit"
    description = "Outputs its configuration."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {"output": {"default": {}}, "by_name": {"default": {}}},
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        CALLS.append(("emit", context.document.name))
        return StepOutcome(config["by_name"].get(context.document.name, config["output"]))


class SendStep:
    """Sends the mapped values; fails for a passing reason while TRANSIENT_LEFT says so."""

    name = "test_send"
    kind = "deliver"
    label = "Send"
    description = "Sends values."
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "values": {"type": "object", "x-ref": "map", "default": {}},
            "secret": {"type": "string"},
            "fail": {"type": "string"},
            "overrun": {"type": "boolean"},
        },
    }

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        name = context.document.name
        CALLS.append(("send", name))
        if config.get("fail"):
            raise StepFailed(config["fail"])
        if config.get("overrun") and TRANSIENT_LEFT.pop("overrun", 0):
            raise SoftTimeLimitExceeded()  # what Celery raises at the run's time limit
        if TRANSIENT_LEFT.get(name, 0) > 0:
            TRANSIENT_LEFT[name] -= 1
            raise StepTransient("The receiver answered 503.", output={"status": 503})
        values = {key: resolve(context.outputs, ref) for key, ref in config["values"].items()}
        return StepOutcome({"sent": values})


@pytest.fixture
def test_steps(register_steps):
    register_steps(EmitStep, SendStep)
    CALLS.clear()
    TRANSIENT_LEFT.clear()


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The engine's pauses between attempts, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(executor, "sleep", recorded.append)
    return recorded


BRANCHES = [
    {"id": "text", "step": "extract_text"},
    {
        "id": "type",
        "step": "test_emit",
        "config": {"output": {"label": "receipt"}, "by_name": {"inv.txt": {"label": "invoice"}}},
    },
    {
        "id": "send",
        "step": "test_send",
        "config": {"values": {"kind": "type.label", "pages": "text.pages"}, "secret": "s3"},
        "when": {"match": "all", "rules": [{"ref": "type.label", "op": "is", "value": "invoice"}]},
    },
    {"id": "other", "step": "test_send", "otherwise_of": "send"},
]


def start(org, name: str, data: bytes, pipeline: list[dict]) -> Run:

    return intake.ingest(org, io.BytesIO(data), name, pipeline=pipeline).runs.get()


def steps_of(run: Run) -> dict[str, StepRun]:
    return {step.step_id: step for step in run.steps.all()}


def test_a_step_whose_condition_fails_is_stored_as_skipped_with_why(org, test_steps):
    run = start(org, "rec.txt", b"A receipt, total 9.00", BRANCHES)

    execute_run(run.pk)

    run.refresh_from_db()
    assert (run.status, run.error) == (Run.Status.SUCCEEDED, "")
    steps = steps_of(run)
    assert [(s.position, s.step_id, s.status) for s in run.steps.all()] == [
        (0, "text", "succeeded"),
        (1, "type", "succeeded"),
        (2, "send", "skipped"),
        (3, "other", "succeeded"),
    ]
    skipped = steps["send"]
    assert (skipped.output, skipped.error, skipped.attempts) == ({}, "", 0)
    assert [(line["level"], line["message"]) for line in skipped.log] == [
        ("info", "Skipped: type.label is 'receipt', not 'invoice'.")
    ]
    assert skipped.input == {
        "config": {"values": {"kind": "type.label", "pages": "text.pages"}, "secret": "********"},
        "references": {"text.pages": 1, "type.label": "receipt"},
    }
    assert skipped.finished_at is not None
    assert CALLS == [("emit", "rec.txt"), ("send", "rec.txt")]  # only the other branch sent


def test_a_step_that_runs_records_its_input_attempts_and_log(org, test_steps):
    run = start(org, "inv.txt", b"Invoice 42, total 9.00", BRANCHES)

    execute_run(run.pk)

    run.refresh_from_db()
    steps = steps_of(run)
    send = steps["send"]
    assert (send.status, send.attempts) == (StepRun.Status.SUCCEEDED, 1)
    assert send.output == {"sent": {"kind": "invoice", "pages": 1}}
    assert send.input["references"] == {"type.label": "invoice", "text.pages": 1}
    assert send.log[0]["message"] == "Started."
    assert send.log[-1]["message"].startswith("Finished in ")
    assert all(set(line) == {"at", "level", "message"} for line in send.log)
    assert steps["other"].status == StepRun.Status.SKIPPED
    assert steps["other"].log[0]["message"] == (
        "Skipped: the condition of 'send' held, so this other case does not run."
    )
    assert steps["text"].input == {"config": steps["text"].input["config"], "references": {}}
    assert steps["text"].input["config"]["max_pages"] == 500


def test_a_redelivered_run_with_conditions_does_each_step_once(org, test_steps):
    run = start(org, "rec.txt", b"A receipt, total 9.00", BRANCHES)
    execute_run(run.pk)
    before = {s.step_id: (s.pk, s.status, s.log, s.finished_at) for s in run.steps.all()}
    # The message comes again as if the worker had died before acknowledging it.
    expired = timezone.now() - timedelta(seconds=1)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, lease_until=expired)
    CALLS.clear()

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert CALLS == []
    after = {s.step_id: (s.pk, s.status, s.log, s.finished_at) for s in run.steps.all()}
    assert {k: v for k, v in after.items() if k != "send"} == {
        k: v for k, v in before.items() if k != "send"
    }
    # the skip was decided again, the same way, and logged once
    assert after["send"][:2] == before["send"][:2]
    assert [line["message"] for line in after["send"][2]] == [
        "Skipped: type.label is 'receipt', not 'invoice'."
    ]


def test_a_transient_failure_is_retried_with_backoff_and_every_attempt_logged(
    org, test_steps, pauses, settings
):
    settings.PYQ_STEP_RETRY_BASE = 2.0
    TRANSIENT_LEFT["inv.txt"] = 2
    run = start(org, "inv.txt", b"Invoice 42", BRANCHES)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    send = steps_of(run)["send"]
    assert (send.status, send.attempts) == (StepRun.Status.SUCCEEDED, 3)
    assert len(pauses) == 2
    assert 1.0 <= pauses[0] <= 2.0
    assert 2.0 <= pauses[1] <= 4.0
    warnings = [line["message"] for line in send.log if line["level"] == "warning"]
    assert [w.split(" Trying")[0] for w in warnings] == [
        "Attempt 1 failed: The receiver answered 503.",
        "Attempt 2 failed: The receiver answered 503.",
    ]
    assert CALLS.count(("send", "inv.txt")) == 3


def test_a_step_down_for_every_attempt_fails_the_run_with_its_message(
    org, test_steps, pauses, settings
):
    settings.PYQ_STEP_RETRY_ATTEMPTS = 2
    TRANSIENT_LEFT["inv.txt"] = 5
    run = start(org, "inv.txt", b"Invoice 42", BRANCHES)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error == "The receiver answered 503. (tried 2 times)"
    send = steps_of(run)["send"]
    assert (send.status, send.attempts, send.error) == ("failed", 2, run.error)
    assert send.output == {"status": 503}
    assert send.log[-1] == {
        "at": send.log[-1]["at"],
        "level": "error",
        "message": "Failed: The receiver answered 503. (tried 2 times)",
    }
    assert len(pauses) == 1
    assert "other" not in steps_of(run)


def test_a_permanent_failure_is_not_retried(org, test_steps, pauses):
    pipeline = [{"id": "send", "step": "test_send", "config": {"fail": "Bad address."}}]
    run = start(org, "a.txt", b"text", pipeline)

    execute_run(run.pk)

    run.refresh_from_db()
    send = steps_of(run)["send"]
    assert (run.status, run.error) == (Run.Status.FAILED, "Bad address.")
    assert (send.attempts, pauses) == (1, [])
    assert [line["message"] for line in send.log] == ["Started.", "Failed: Bad address."]


def test_a_run_canceled_between_attempts_stops_there(org, test_steps, monkeypatch):
    TRANSIENT_LEFT["inv.txt"] = 2
    run = start(org, "inv.txt", b"Invoice 42", BRANCHES)
    monkeypatch.setattr(executor, "sleep", lambda seconds: None)
    real_log = StepRunStore.log

    def log_then_cancel(self, spec, level, message):
        real_log(self, spec, level, message)
        if message.startswith("Attempt 1 failed"):
            cancel_run(self.run)

    monkeypatch.setattr(StepRunStore, "log", log_then_cancel)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELED
    send = steps_of(run)["send"]
    assert (send.status, send.error, send.attempts) == ("failed", "The run was canceled.", 1)
    assert CALLS.count(("send", "inv.txt")) == 1


def test_a_run_past_its_time_limit_is_failed_with_a_reason_and_can_be_retried(org, test_steps):
    pipeline = [
        {"id": "text", "step": "extract_text"},
        {"id": "send", "step": "test_send", "config": {"overrun": True}},
    ]
    TRANSIENT_LEFT["overrun"] = 1
    run = start(org, "a.txt", b"Invoice 42", pipeline)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error == (
        "Processing this document took longer than the 900 s limit. Split it into smaller files."
    )
    send = steps_of(run)["send"]
    assert (send.status, send.error) == (StepRun.Status.FAILED, run.error)
    assert send.log[-1]["message"] == f"Failed: {run.error}"
    text_done = steps_of(run)["text"].finished_at

    retry_run(run)
    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert steps_of(run)["text"].finished_at == text_done
    assert steps_of(run)["send"].status == StepRun.Status.SUCCEEDED


def test_the_retry_policy_comes_from_the_settings(settings):
    settings.PYQ_STEP_RETRY_ATTEMPTS = 5
    settings.PYQ_STEP_RETRY_BASE = 0.25

    policy = executor.retry_policy()

    assert (policy.attempts, policy.base, policy.cap) == (5, 0.25, 30.0)


@pytest.mark.parametrize(
    ("raw", "value", "error"),
    [
        (None, 1.0, None),
        ("", 1.0, None),
        ("0.5", 0.5, None),
        ("0", 0.0, None),
        ("-1", 1.0, "PYQ_STEP_RETRY_BASE=-1 must be at least 0."),
        ("fast", 1.0, "PYQ_STEP_RETRY_BASE='fast' is not a number."),
        ("nan", 1.0, "PYQ_STEP_RETRY_BASE='nan' is not a number."),
    ],
)
def test_env_float_reads_a_number_or_records_a_config_error(monkeypatch, raw, value, error):
    from pyq_site import env

    monkeypatch.setattr(env, "CONFIG_ERRORS", [])
    if raw is None:
        monkeypatch.delenv("PYQ_STEP_RETRY_BASE", raising=False)
    else:
        monkeypatch.setenv("PYQ_STEP_RETRY_BASE", raw)

    assert env.env_float("PYQ_STEP_RETRY_BASE", 1.0, minimum=0) == value
    assert [e.message for e in env.CONFIG_ERRORS] == ([error] if error else [])


# --- the per-organization limit on running runs -----------------------------------------------


def hold_slots(org, count: int) -> list[Run]:
    """Runs of org that a live worker is running."""
    runs = [run_of(make_document(org, f"busy{n}.txt", b"busy")) for n in range(count)]
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(
        status=Run.Status.RUNNING, heartbeat_at=timezone.now()
    )
    return runs


def others_waiting(member) -> Run:
    """A queued run of another organization: the limit shares the workers among them."""
    return run_of(make_document(member.org, "theirs.txt", b"Dear Ann"))


def test_an_organization_alone_in_the_queue_uses_idle_workers_past_its_limit(
    org, settings, outsider
):
    settings.PYQ_ORG_MAX_RUNNING = 2
    hold_slots(org, 2)  # one worker is busy with a batch of ours
    waiting = [run_of(make_document(org, f"w{n}.txt", b"Invoice 1")) for n in range(3)]

    # nobody else waits: the next worker takes them rather than stay idle
    assert execute_run(waiting[0].pk) is True
    assert {run_of(r.document).status for r in waiting} == {Run.Status.SUCCEEDED}

    # once another organization waits, the limit holds again
    ours = run_of(make_document(org, "later.txt", b"Invoice 2"))
    theirs = others_waiting(outsider)
    assert execute_run(ours.pk, batch_size=1) is False
    assert execute_run(theirs.pk, batch_size=1) is True


def test_a_run_waits_while_its_organization_is_at_its_limit(org, settings, outsider):
    settings.PYQ_ORG_MAX_RUNNING = 2
    busy = hold_slots(org, 2)
    waiting = run_of(make_document(org, "w.txt", b"Invoice 1"))
    elsewhere = run_of(make_document(outsider.org, "o.txt", b"Invoice 2"))

    assert execute_run(waiting.pk) is False

    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.started_at) == ("queued", 0, None)
    assert waiting.steps.count() == 0
    # another organization is not held back, and its run does not take the waiting one along
    assert execute_run(elsewhere.pk) is True
    assert run_of(elsewhere.document).status == Run.Status.SUCCEEDED
    assert Run.objects.get(pk=waiting.pk).status == Run.Status.QUEUED
    # a slot frees: the run starts
    Run.objects.filter(pk=busy[0].pk).update(status=Run.Status.SUCCEEDED)
    assert execute_run(waiting.pk) is True
    assert Run.objects.get(pk=waiting.pk).status == Run.Status.SUCCEEDED


def test_batching_takes_no_more_runs_of_an_organization_than_its_free_slots(
    org, settings, outsider
):
    settings.PYQ_ORG_MAX_RUNNING = 2
    ours = [run_of(make_document(org, f"a{n}.txt", b"Invoice 1 total 2.00")) for n in range(4)]
    theirs = [run_of(make_document(outsider.org, f"b{n}.txt", b"Dear Ann")) for n in range(3)]
    Run.objects.filter(pk=theirs[2].pk).update(
        status=Run.Status.RUNNING, heartbeat_at=timezone.now()
    )
    seen: list[dict[int, int]] = []
    execute_group = executor._execute_group

    def count_running(runs):
        counts: dict[int, int] = {}
        for org_id in Run.objects.filter(status=Run.Status.RUNNING).values_list(
            "organization", flat=True
        ):
            counts[org_id] = counts.get(org_id, 0) + 1
        seen.append(counts)
        execute_group(runs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executor, "_execute_group", count_running)
        assert execute_run(ours[0].pk) is True

    status = {r.pk: Run.objects.get(pk=r.pk).status for r in [*ours, *theirs]}
    assert [status[r.pk] for r in ours] == ["succeeded", "succeeded", "queued", "queued"]
    assert [status[r.pk] for r in theirs] == ["succeeded", "queued", "running"]
    assert seen[0] == {org.pk: 2, outsider.org.pk: 2}  # never more than the limit


def test_the_oldest_waiting_run_of_an_organization_goes_first(org, settings, outsider):
    settings.PYQ_ORG_MAX_RUNNING = 1
    others_waiting(outsider)
    older = run_of(make_document(org, "old.txt", b"Invoice 1"))
    newer = run_of(make_document(org, "new.txt", b"Invoice 2"))

    assert execute_run(newer.pk, batch_size=1) is False
    assert execute_run(older.pk, batch_size=1) is True
    assert execute_run(newer.pk, batch_size=1) is True
    assert [run_of(d).status for d in (older.document, newer.document)] == ["succeeded"] * 2


def test_a_builders_test_run_goes_before_waiting_runs(org, settings, outsider):
    settings.PYQ_ORG_MAX_RUNNING = 1
    others_waiting(outsider)
    older = run_of(make_document(org, "old.txt", b"Invoice 1"))
    test = start_run(older.document, is_test=True, trigger=Run.Trigger.TEST)

    assert execute_run(older.pk, batch_size=1) is False
    assert execute_run(test.pk, batch_size=1) is True


def test_a_resumed_run_does_not_need_a_free_slot(org, settings):
    settings.PYQ_ORG_MAX_RUNNING = 1
    run = run_of(make_document(org, "a.txt", b"Invoice 1"))
    stale = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, heartbeat_at=stale)
    run_of(make_document(org, "b.txt", b"Invoice 2"))  # queued, waiting

    assert execute_run(run.pk) is True
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED


def test_zero_means_no_limit(org, settings):
    settings.PYQ_ORG_MAX_RUNNING = 0
    hold_slots(org, 3)
    run = run_of(make_document(org, "a.txt", b"Invoice 1"))

    assert execute_run(run.pk) is True


def test_the_task_of_a_waiting_run_asks_again_later(org, settings, monkeypatch, outsider):
    settings.PYQ_ORG_MAX_RUNNING = 1
    others_waiting(outsider)
    hold_slots(org, 1)
    run = run_of(make_document(org, "w.txt", b"Invoice 1"))
    sent: list[tuple] = []
    monkeypatch.setattr(
        "automations.runs.queue.send",
        lambda name, *args, countdown: sent.append((name, args, countdown)),
    )

    tasks.process_run.run(run.pk)
    tasks.process_runs.run([run.pk])

    task = "automations.tasks.process_run"
    assert [(name, args) for name, args, _ in sent] == [(task, (run.pk,)), (task, (run.pk,))]
    assert all(10 <= countdown <= 15 for _, _, countdown in sent)
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED


def test_an_inline_task_leaves_a_waiting_run_queued(org, settings, eager, outsider):
    settings.PYQ_ORG_MAX_RUNNING = 1
    others_waiting(outsider)
    hold_slots(org, 1)
    run = run_of(make_document(org, "w.txt", b"Invoice 1"))

    tasks.process_run.delay(run.pk)  # would recurse forever if it sent itself again inline

    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED


# --- runs of lost workers -----------------------------------------------------------------------


def lose_worker(run: Run, *, minutes: int = 30, attempts: int = 1) -> None:
    """Leave the run as a killed worker does: running, with a stale heartbeat."""
    stale = timezone.now() - timedelta(minutes=minutes)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=stale, started_at=stale, attempts=attempts
    )


def test_a_run_whose_worker_was_lost_is_queued_again_and_resumes_after_its_last_step(
    org, test_steps, django_capture_on_commit_callbacks
):
    run = start(org, "inv.txt", b"Invoice 42", BRANCHES)
    document = run.document
    Page.objects.create(document=document, number=1, text="Invoice 42", method="text")
    StepRun.objects.create(
        run=run, position=0, step_id="text", step="extract_text",
        status=StepRun.Status.SUCCEEDED, output={"pages": 1, "marker": "first worker"},
        attempts=1,
    )  # fmt: skip
    StepRun.objects.create(
        run=run, position=1, step_id="type", step="test_emit",
        status=StepRun.Status.RUNNING, attempts=1,
        log=[{"at": "2026-01-01T00:00:00+00:00", "level": "info", "message": "Started."}],
    )  # fmt: skip
    lose_worker(run)

    with django_capture_on_commit_callbacks() as callbacks:
        result = recovery.recover_orphaned_runs()

    assert result == {"requeued": [run.pk], "failed": []}
    assert len(callbacks) == 1  # sent to the workers again
    run.refresh_from_db()
    assert (run.status, run.heartbeat_at) == (Run.Status.QUEUED, None)

    execute_run(run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 2)
    steps = steps_of(run)
    assert steps["text"].output["marker"] == "first worker"  # not read again
    assert CALLS == [("emit", "inv.txt"), ("send", "inv.txt")]
    again = steps["type"]
    assert (again.status, again.attempts) == (StepRun.Status.SUCCEEDED, 2)
    assert [line["message"] for line in again.log][:3] == [
        "Started.",
        "The worker running this step stopped; it starts again.",
        "Started.",
    ]


def test_a_run_lost_too_often_is_failed_with_a_reason_and_can_be_retried(org, test_steps):
    run = start(org, "inv.txt", b"Invoice 42", BRANCHES)
    StepRun.objects.create(
        run=run, position=0, step_id="text", step="extract_text", status=StepRun.Status.RUNNING
    )
    lose_worker(run, attempts=MAX_RUN_ATTEMPTS)

    assert recovery.recover_orphaned_runs() == {"requeued": [], "failed": [run.pk]}

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error == (
        f"This run was started {MAX_RUN_ATTEMPTS} times and stopped each time before it finished "
        "during the "
        "step 'text': its worker was stopped, or it took longer than the 900 s limit. Retry "
        "it; if it stops again, split the document into smaller files."
    )
    step = run.steps.get()
    assert (step.status, step.error) == (StepRun.Status.FAILED, run.error)
    assert step.log[-1]["message"] == f"Failed: {run.error}"

    retry_run(run)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.QUEUED, 0)
    execute_run(run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED


def test_recovery_leaves_live_and_recently_quiet_runs_alone(org, settings):
    settings.PYQ_STEP_TIME_LIMIT = 60
    now = timezone.now()
    live = run_of(make_document(org, "a.txt", b"a"))
    quiet = run_of(make_document(org, "b.txt", b"b"))
    lost = run_of(make_document(org, "c.txt", b"c"))
    never = run_of(make_document(org, "d.txt", b"d"))  # claimed, no heartbeat at all
    queued = run_of(make_document(org, "e.txt", b"e"))
    for run, age in ((live, 5), (quiet, 170), (lost, 190)):
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.RUNNING, heartbeat_at=now - timedelta(seconds=age), attempts=1
        )
    Run.objects.filter(pk=never.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=None, started_at=now - timedelta(hours=1)
    )

    result = recovery.recover_orphaned_runs(now)

    # lease: step limit (60 s) + 60 s, and a 60 s margin
    assert sorted(result["requeued"]) == sorted([lost.pk, never.pk])
    statuses = {r.pk: Run.objects.get(pk=r.pk).status for r in (live, quiet, lost, never, queued)}
    assert statuses == {
        live.pk: "running",
        quiet.pk: "running",
        lost.pk: "queued",
        never.pk: "queued",
        queued.pk: "queued",
    }


def test_the_beat_sweeps_every_15_seconds(org, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["recover-runs"]
    assert (schedule["task"], schedule["schedule"]) == ("automations.tasks.recover_runs", 15.0)
    run = run_of(make_document(org, "a.txt", b"a"))
    lose_worker(run)

    assert tasks.recover_runs.run() == {"requeued": [run.pk], "failed": [], "nudged": []}


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_the_heartbeat_of_its_runs_fresh_during_a_long_step(monkeypatch):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory()
    run = run_of(make_document(org, "a.txt", b"a"))
    old = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, heartbeat_at=old, lease_until=old, worker=worker_name()
    )

    with recovery.Heartbeat([run.pk], interval=0.05):
        deadline = time.monotonic() + 5
        while Run.objects.get(pk=run.pk).heartbeat_at == old and time.monotonic() < deadline:
            time.sleep(0.05)

    beat = Run.objects.get(pk=run.pk).heartbeat_at
    assert beat > old
    assert Run.objects.get(pk=run.pk).lease_until == beat + timedelta(seconds=30)  # renewed
    time.sleep(0.2)
    assert Run.objects.get(pk=run.pk).heartbeat_at == beat  # it stopped with the block
