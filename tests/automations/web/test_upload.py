"""Uploading documents: accepted by content, rejected with a clear message and no trace."""

import io
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse

from automations.models import Document, Run
from tests import files
from tests.automations.helpers import make_document, stored_files, upload

URL = reverse("automations:documents")


def post(client, *uploads):
    return client.post(URL, {"files": list(uploads)})


def test_member_uploads_several_files_and_each_gets_a_queued_run(
    member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            member.client,
            upload("receipt.png", files.text_image(["TOTAL 12.50"])),
            upload("invoice.pdf", files.text_pdf(["Invoice 42"])),
            upload("notes.txt", "Café Ωmega".encode()),
        )
    assert response.status_code == 302
    documents = Document.objects.for_org(member.org).order_by("original_name")
    assert [(d.original_name, d.kind, d.mime_type) for d in documents] == [
        ("invoice.pdf", "pdf", "application/pdf"),
        ("notes.txt", "txt", "text/plain"),
        ("receipt.png", "png", "image/png"),
    ]
    assert all(d.uploaded_by == member.user for d in documents)
    runs = Run.objects.for_org(member.org)
    assert sorted(r.status for r in runs) == ["queued"] * 3
    assert {r.document_id for r in runs} == {d.pk for d in documents}
    # The runs are sent to the workers in one message once their transaction has committed.
    assert len(callbacks) == 1
    with mock.patch("automations.runs.queue.send") as send:
        callbacks[0]()
    name, ids = send.call_args.args
    assert name == "automations.tasks.process_runs"
    assert sorted(ids) == sorted(r.pk for r in runs)
    assert len(stored_files()) == 3


def test_type_is_taken_from_content_not_extension(member):
    post(member.client, upload("scan.pdf", files.text_image(["HELLO"]), "application/pdf"))
    document = Document.objects.get(organization=member.org)
    assert (document.kind, document.mime_type, document.extension) == ("png", "image/png", ".png")
    assert document.original_name == "scan.pdf"
    assert document.file.name.endswith("/original.png")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.pdf", b"", "The file is empty."),
        ("program.pdf", b"MZ\x90\x00" + bytes(range(256)) * 8, "PDF, PNG, JPEG"),
        ("locked.pdf", files.text_pdf(["secret"], encrypt="pw"), "password"),
    ],
    ids=["empty", "not-a-document", "encrypted"],
)
def test_bad_file_is_rejected_next_to_the_field_and_leaves_nothing(member, name, data, message):
    response = post(member.client, upload(name, data))
    assert response.status_code == 400
    errors = response.context["form"].errors["files"]
    assert len(errors) == 1
    assert errors[0].startswith(f"{name}: ")
    assert message in errors[0]
    assert 'id="upload-errors"' in response.content.decode()
    assert Document.objects.count() == 0
    assert Run.objects.count() == 0
    assert stored_files() == []


def test_truncated_pdf_is_rejected(member):
    whole = files.text_pdf(["Invoice 42"] * 3)
    response = post(member.client, upload("cut.pdf", whole[:300]))
    assert response.status_code == 400
    assert "damaged or incomplete" in response.context["form"].errors["files"][0]
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_file_over_the_size_limit_is_rejected(member, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    big = b"word " * (1024 * 1024 // 5 + 10)  # a valid text file just over 1 MB
    response = post(member.client, upload("big.txt", big))
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [
        "big.txt: The file is larger than the 1 MB limit."
    ]
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_good_files_are_kept_when_one_of_the_batch_is_rejected(member):
    response = post(member.client, upload("ok.txt", b"hello world"), upload("empty.txt", b""))
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == ["empty.txt: The file is empty."]
    assert list(Document.objects.values_list("original_name", flat=True)) == ["ok.txt"]
    assert len(stored_files()) == 1


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "..\\..\\windows\\evil.txt"])
def test_path_separators_in_a_name_never_reach_the_storage_path(member, name, settings):
    document = make_document(member.org, name, b"plain text")
    assert document.original_name in {"passwd.txt", "evil.txt"}
    assert ".." not in document.file.name
    assert document.file.name.startswith(f"orgs/{member.org.pk}/documents/{document.uid}/")
    (stored,) = stored_files()
    assert stored.resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())


def test_no_file_chosen_is_a_form_error(member):
    response = member.client.post(URL, {})
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == ["Choose at least one file."]


def test_viewer_cannot_upload(viewer):
    response = post(viewer.client, upload("a.txt", b"hello"))
    assert response.status_code == 403
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_anonymous_is_sent_to_login(client, db):
    response = client.post(URL, {"files": [upload("a.txt", b"hello")]})
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert Document.objects.count() == 0


def test_a_thousand_page_pdf_is_refused_with_the_page_limit(member):
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in range(1000):
        pdf.drawString(72, 760, f"Page {number + 1}")
        pdf.showPage()
    pdf.save()
    response = post(member.client, upload("long.pdf", buffer.getvalue()))
    assert response.status_code == 400
    (error,) = response.context["form"].errors["files"]
    assert error.startswith("long.pdf: ")
    assert "1000 pages" in error
    assert "500" in error  # PYQ_MAX_PAGES, the default
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_an_upload_is_stored_once_with_the_storages_permissions(member, settings):
    document = make_document(member.org, "note.txt", b"plain text to keep")

    (stored,) = stored_files()  # the spooled copy is gone, only the stored file is left
    assert stored == Path(settings.MEDIA_ROOT) / document.file.name
    assert stored.read_bytes() == b"plain text to keep"
    assert stored.stat().st_mode & 0o777 == settings.FILE_UPLOAD_PERMISSIONS
    assert stored.stat().st_nlink == 1
    assert list((Path(settings.MEDIA_ROOT) / ".incoming").iterdir()) == []


def test_a_taken_name_falls_back_to_a_storage_save(member, settings, monkeypatch):
    from automations import documents

    monkeypatch.setattr(documents.os, "link", mock.Mock(side_effect=FileExistsError))
    document = make_document(member.org, "note.txt", b"saved the usual way")

    (stored,) = stored_files()
    assert stored == Path(settings.MEDIA_ROOT) / document.file.name
    assert stored.read_bytes() == b"saved the usual way"
