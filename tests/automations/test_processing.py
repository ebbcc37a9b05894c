"""A run reads a document page by page; failures end the run with a readable message."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automations import processing
from automations.models import Document, Page, Run, StepRun
from automations.steps.extract_text import NO_TEXT
from tests import files
from tests.automations.helpers import make_document


def run_of(document: Document) -> Run:
    return document.runs.get()


def execute(document: Document) -> Run:
    run = run_of(document)
    processing.execute_run(run.pk)
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
    assert len(callbacks) == 2
    skipped = [w for w in run.warnings if w.startswith("Attachment")]
    assert len(skipped) == 1
    assert skipped[0].startswith("Attachment tool.exe was skipped:")
    # Redelivered after its worker died: the attachments are not made twice.
    stale = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, heartbeat_at=stale)
    StepRun.objects.filter(run=run).delete()
    processing.execute_run(run.pk)
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
    processing.execute_run(run.pk)
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
    processing.execute_run(run.pk)
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
    processing.execute_run(run_of(first).pk)
    assert [run_of(d).status for d in (first, second)] == ["succeeded", "succeeded"]
    assert run_of(second).output_of("classify")["label"] == "letter"
    # The second message arrives later and finds its run done.
    processing.execute_run(run_of(second).pk)
    assert run_of(second).attempts == 1


def test_two_copies_in_one_batch_are_flagged_as_duplicates(org):
    text = b"Invoice 4721 from Acme Supplies, total due 93.50 EUR by 1 December 2026"
    first = make_document(org, "a.txt", text)
    second = make_document(org, "copy.txt", text)
    processing.execute_run(run_of(first).pk)
    result = run_of(second).output_of("similar_documents")
    assert result["is_duplicate"] is True
    assert result["duplicates"][0]["document"] == str(first.uid)
    assert result["duplicates"][0]["score"] >= 0.99
    assert run_of(first).output_of("similar_documents")["is_duplicate"] is False


def test_a_run_held_by_a_live_worker_is_not_taken_twice(org):
    document = make_document(org, "a.txt", b"some text here")
    run = run_of(document)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(processing.RunBusy):
        processing.execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    processing.execute_run(run.pk)  # the first worker died: this one resumes it
    assert run_of(document).status == Run.Status.SUCCEEDED


def test_run_of_a_deleted_document_is_ignored(org):
    document = make_document(org, "gone.txt", b"bye")
    run_id = run_of(document).pk
    document.delete()
    processing.execute_run(run_id)  # returns quietly
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
    assert processing.fail_stuck_runs(now) == 1
    stuck.refresh_from_db()
    alive.refresh_from_db()
    assert stuck.status == Run.Status.FAILED
    assert "stopped responding" in stuck.error
    assert alive.status == Run.Status.RUNNING


@pytest.mark.parametrize("status", [Run.Status.SUCCEEDED, Run.Status.FAILED])
def test_reprocess_makes_a_new_run(org, status):
    from automations import services

    document = make_document(org, "n.txt", b"text")
    Run.objects.filter(document=document).update(status=status)
    run = services.reprocess(document)
    assert run.status == Run.Status.QUEUED
    assert run.trigger == Run.Trigger.RETRY
    assert document.runs.count() == 2
