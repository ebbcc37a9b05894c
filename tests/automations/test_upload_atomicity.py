"""A failure part-way through an upload or a mail's attachments leaves no file without its row."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.urls import reverse

from automations import intake
from automations.engine.filetypes import MSG_UNSUPPORTED
from automations.models import Document, Run
from automations.runs.control import retry_run
from automations.runs.execute import execute_run
from tests import files
from tests.automations.helpers import make_document, stored_files, upload

URL = reverse("automations:documents")


class Interrupted(BaseException):
    """What a worker timeout or a signal raises in the middle of a request."""


def fail_on(name: str, error: BaseException):
    """prepare_document that raises ``error`` for the file called ``name``."""
    real = intake.prepare_document

    def prepare(org, stream, filename, **kwargs):
        if filename == name:
            raise error
        return real(org, stream, filename, **kwargs)

    return mock.patch.object(intake, "prepare_document", side_effect=prepare)


def spooled() -> list[Path]:
    return [p for p in stored_files() if ".incoming" in p.parts]


def test_a_later_file_failing_unexpectedly_is_refused_and_the_others_keep_their_rows(member):
    real = intake.inspect_file
    calls = []

    def inspect(path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("a bug in a parser")
        return real(path, **kwargs)

    with mock.patch.object(intake, "inspect_file", side_effect=inspect):
        response = member.client.post(
            URL,
            {"files": [upload("a.txt", b"first"), upload("b.txt", b"second")]},
        )
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [
        "b.txt: This file could not be stored because of a problem on our side. "
        "Please upload it again in a few minutes."
    ]
    (document,) = Document.objects.all()
    assert document.original_name == "a.txt"
    assert Run.objects.get().document == document
    # The only stored file is the saved document's; the spooled copies are gone.
    assert stored_files() == [Path(settings.MEDIA_ROOT) / document.file.name]


def test_an_upload_interrupted_after_some_files_were_stored_keeps_nothing(member):
    uploads = [upload("a.txt", b"first"), upload("b.txt", b"second"), upload("c.txt", b"3")]
    with fail_on("b.txt", Interrupted()), pytest.raises(Interrupted):
        intake.ingest_many(member.org, uploads, user=member.user)
    assert Document.objects.count() == 0
    assert Run.objects.count() == 0
    assert stored_files() == []  # a.txt was stored before b.txt failed: it is gone again


def test_rows_that_cannot_be_saved_take_their_files_with_them(member):
    uploads = [upload("a.txt", b"first"), upload("b.txt", b"second")]
    with (
        mock.patch.object(Run.objects, "bulk_create", side_effect=DatabaseError("gone")),
        pytest.raises(DatabaseError),
    ):
        intake.ingest_many(member.org, uploads, user=member.user)
    assert Document.objects.count() == 0
    assert stored_files() == []


# --------------------------------------------------------------------- mail attachments


def mail_with_three_attachments() -> bytes:
    return files.eml_file(
        "Three notes attached.",
        [
            ("a.txt", "text/plain", b"note A"),
            ("b.txt", "text/plain", b"note B"),
            ("c.txt", "text/plain", b"note C"),
        ],
    )


def execute(run: Run) -> Run:
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_an_attachment_that_cannot_be_stored_fails_the_run_and_a_retry_stores_them_all(org):
    mail = make_document(org, "mail.eml", mail_with_three_attachments())
    run = mail.runs.get()

    with fail_on("b.txt", OSError("disk full")):
        run = execute(run)

    assert run.status == Run.Status.FAILED
    assert run.error == (
        "The attachment b.txt could not be stored, so none of this e-mail's attachments "
        "were kept. Retry the run to store them all."
    )
    assert mail.attachments.count() == 0  # a.txt is not kept alone
    assert stored_files() == [Path(settings.MEDIA_ROOT) / mail.file.name]

    run = execute(retry_run(run))

    assert run.status == Run.Status.SUCCEEDED
    children = mail.attachments.order_by("original_name")
    assert [c.original_name for c in children] == ["a.txt", "b.txt", "c.txt"]
    assert [c.runs.get().status for c in children] == ["queued"] * 3
    assert len(stored_files()) == 4

    # Run once more (a redelivered task): each attachment is still stored once.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED)
    run.steps.all().delete()
    execute(run)
    assert mail.attachments.count() == 3
    assert len(stored_files()) == 4


def test_a_mail_past_the_attachment_limit_fails_its_run_and_stores_no_attachment(org, settings):
    mail = make_document(org, "mail.eml", mail_with_three_attachments())
    settings.PYQ_MAX_MAIL_ATTACHMENTS = 2  # lowered after the upload was accepted

    run = execute(mail.runs.get())

    assert run.status == Run.Status.FAILED
    assert run.error.startswith("This e-mail has more than 2 attachments")
    assert mail.attachments.count() == 0
    assert len(stored_files()) == 1


def test_a_refused_attachment_is_skipped_with_a_warning_once_however_often_it_runs(org):
    exe = ("tool.exe", "application/octet-stream", b"MZ" + bytes(300))
    mail = make_document(org, "mail.eml", files.eml_file("Hi", [exe]))
    run = execute(mail.runs.get())
    assert run.status == Run.Status.SUCCEEDED
    assert mail.attachments.count() == 0
    # Nothing was stored, so running again looks at the attachments again.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED)
    run.steps.all().delete()
    run = execute(run)
    skipped = [w for w in run.warnings if w.startswith("Attachment")]
    assert skipped == [
        f"Attachment tool.exe was skipped: {MSG_UNSUPPORTED}",
    ]
    assert mail.attachments.count() == 0
