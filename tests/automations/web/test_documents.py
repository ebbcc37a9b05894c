"""Dashboard pages: what members see, and what another organization's user never reaches."""

import pytest
from django.urls import reverse

from automations.models import Document, Run
from automations.runs.execute import execute_run
from tests import files
from tests.automations.helpers import make_document, stored_files


@pytest.fixture
def document(owner):
    doc = make_document(
        owner.org,
        "invoice.pdf",
        files.text_pdf(["Invoice 4721 from Acme Supplies"]),
        user=owner.user,
    )
    execute_run(doc.runs.get().pk)
    return doc


def urls_of(document):
    run = document.runs.get()
    return {
        "detail": reverse("automations:document", args=[document.uid]),
        "file": reverse("automations:document_file", args=[document.uid]),
        "page": reverse("automations:page_image", args=[document.uid, 1]),
        "progress": reverse("automations:run_progress", args=[run.pk]),
    }


def test_member_sees_the_document_with_its_page_image_beside_its_text(member, document):
    response = member.client.get(reverse("automations:document", args=[document.uid]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Invoice 4721 from Acme Supplies" in body
    assert reverse("automations:page_image", args=[document.uid, 1]) in body
    assert "PDF text layer" in body
    image = member.client.get(reverse("automations:page_image", args=[document.uid, 1]))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content)[:3] == b"\xff\xd8\xff"


def test_original_file_downloads_under_its_name(viewer, document):
    response = viewer.client.get(reverse("automations:document_file", args=[document.uid]))
    assert response.status_code == 200
    assert 'filename="invoice.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_list_shows_newest_first_and_paginates(member):
    for i in range(27):
        make_document(member.org, f"note-{i:02}.txt", b"some text")
    first = member.client.get(reverse("automations:documents"))
    names = [d.original_name for d in first.context["page_obj"]]
    assert names[0] == "note-26.txt"
    assert len(names) == 25
    second = member.client.get(reverse("automations:documents") + "?page=2")
    assert [d.original_name for d in second.context["page_obj"]] == ["note-01.txt", "note-00.txt"]
    assert "Page 2 of 2" in second.content.decode()


def test_member_reprocesses_and_deletes(member, document):
    response = member.client.post(reverse("automations:reprocess", args=[document.uid]))
    assert response.status_code == 302
    assert document.runs.count() == 2
    assert document.pages.count() == 0  # read again from scratch
    assert len(stored_files()) == 1  # the original; the old page image is gone
    response = member.client.post(reverse("automations:delete", args=[document.uid]))
    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert Run.objects.count() == 0
    assert stored_files() == []


def test_viewer_cannot_reprocess_or_delete(viewer, document):
    assert (
        viewer.client.post(reverse("automations:reprocess", args=[document.uid])).status_code == 403
    )
    assert viewer.client.post(reverse("automations:delete", args=[document.uid])).status_code == 403
    assert document.runs.count() == 1
    assert Document.objects.filter(pk=document.pk).exists()


@pytest.mark.parametrize("name", ["detail", "file", "page", "progress"])
def test_outsider_gets_404_for_every_document_view(outsider, document, name):
    response = outsider.client.get(urls_of(document)[name])
    assert response.status_code == 404


def test_outsider_cannot_reprocess_or_delete_and_nothing_changes(outsider, document):
    for view in ("automations:reprocess", "automations:delete"):
        response = outsider.client.post(reverse(view, args=[document.uid]))
        assert response.status_code == 404
    assert document.runs.count() == 1
    assert Document.objects.filter(pk=document.pk).exists()
    assert len(stored_files()) == 2


def test_outsider_lists_show_nothing_of_another_organization(outsider, document):
    documents = outsider.client.get(reverse("automations:documents"))
    runs = outsider.client.get(reverse("automations:runs"))
    assert list(documents.context["page_obj"]) == []
    assert list(runs.context["page_obj"]) == []
    assert "invoice.pdf" not in documents.content.decode()
    assert "invoice.pdf" not in runs.content.decode()


def test_outsider_upload_lands_in_their_own_organization(outsider, document):
    from tests.automations.helpers import upload

    outsider.client.post(reverse("automations:documents"), {"files": [upload("x.txt", b"hi")]})
    assert Document.objects.for_org(document.organization).count() == 1
    assert Document.objects.for_org(outsider.org).get().original_name == "x.txt"


@pytest.mark.parametrize("name", ["detail", "file", "page", "progress"])
def test_anonymous_is_sent_to_login(client, document, name):
    response = client.get(urls_of(document)[name])
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_redacted_pdf_made_by_a_run_downloads_only_in_its_organization(member, outsider):
    from automations.models import Artifact

    text = "Invoice 42\nQuestions: billing@acme.example or +44 20 7946 0000\nTotal 9.00 EUR"
    doc = make_document(member.org, "mail.pdf", files.text_pdf([text]))
    run = doc.runs.get()
    Run.objects.filter(pk=run.pk).update(
        pipeline=[{"id": "text", "step": "extract_text"}, {"id": "safe", "step": "redact"}]
    )
    execute_run(run.pk)
    artifact = Artifact.objects.get(run=run)
    url = reverse("automations:artifact", args=[doc.uid, artifact.uid])
    assert (
        url in member.client.get(reverse("automations:document", args=[doc.uid])).content.decode()
    )
    response = member.client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert artifact.step_id == "safe"
    assert outsider.client.get(url).status_code == 404
