"""REST API v1 documents and runs: send files with an API key, read the results back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from automations.engine.fields.order import ordered_fields
from automations.models import Document, Run, StepRun
from automations.runs.execute import execute_run
from tests import files
from tests.api.callers import ApiCaller
from tests.automations.helpers import make_document, stored_files, upload

DOCUMENTS = "/api/v1/documents"


def document_url(document: Document | str) -> str:
    uid = document if isinstance(document, str) else document.uid
    return f"/api/v1/documents/{uid}"


def run_url(run: Run | int) -> str:
    return f"/api/v1/runs/{run if isinstance(run, int) else run.pk}"


def assert_nothing_stored() -> None:
    assert Document.objects.count() == 0
    assert Run.objects.count() == 0
    assert stored_files() == []


# --- Upload ------------------------------------------------------------------------------


def test_urls_are_where_the_api_documents_them():
    assert reverse("api:documents") == DOCUMENTS
    assert reverse("api:document", args=["abc"]) == "/api/v1/documents/abc"
    assert reverse("api:run", args=[7]) == "/api/v1/runs/7"


def test_upload_one_file_stores_it_and_queues_a_run_on_commit(
    api, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(DOCUMENTS, {"file": upload("invoice.pdf", files.text_pdf(["A", "B"]))})
        # Nothing goes to the workers before the transaction commits.
        assert sent == []
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    document = Document.objects.get()
    run = Run.objects.get()
    assert response.json() == {
        "documents": [
            {
                "id": str(document.uid),
                "name": "invoice.pdf",
                "kind": "pdf",
                "mime_type": "application/pdf",
                "size": document.size,
                "pages": 2,
                "source": "api",
                "parent": None,
                "created_at": document.created_at.isoformat(),
                "run": {"id": run.pk, "status": "queued", "finished_at": None},
            }
        ],
        "rejected": [],
    }
    assert (document.organization, document.source, document.uploaded_by) == (
        api.key.organization,
        "api",
        None,
    )
    assert (run.document, run.trigger, run.status) == (document, "api", "queued")
    assert len(callbacks) == 1
    assert sent == [run.pk]
    assert len(stored_files()) == 1


def test_upload_several_files_accepts_the_good_ones_and_lists_the_rejected(
    api, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(
            DOCUMENTS,
            {
                "file": [
                    upload("receipt.png", files.text_image(["TOTAL 12.50"])),
                    upload("empty.pdf", b""),
                    upload("notes.txt", "Café Ωmega".encode()),
                ]
            },
        )
    assert response.status_code == 201
    body = response.json()
    assert [(d["name"], d["kind"], d["pages"], d["run"]["status"]) for d in body["documents"]] == [
        ("receipt.png", "png", 1, "queued"),
        ("notes.txt", "txt", 1, "queued"),
    ]
    assert body["rejected"] == [{"name": "empty.pdf", "error": "The file is empty."}]
    documents = Document.objects.for_org(api.key.organization).order_by("original_name")
    assert [d.original_name for d in documents] == ["notes.txt", "receipt.png"]
    runs = {r.document.original_name: r for r in Run.objects.select_related("document")}
    assert sorted(runs) == ["notes.txt", "receipt.png"]
    assert [d["run"]["id"] for d in body["documents"]] == [
        runs["receipt.png"].pk,
        runs["notes.txt"].pk,
    ]
    assert len(callbacks) == 1  # one message to the workers for the whole request
    assert sorted(sent) == sorted(r.pk for r in runs.values())
    assert len(stored_files()) == 2


def test_upload_where_every_file_is_rejected_is_400_and_stores_nothing(api, sent):
    response = api.post(
        DOCUMENTS,
        {"file": [upload("empty.pdf", b""), upload("program.pdf", b"MZ\x90\x00" + bytes(256) * 8)]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == {"code": "rejected", "message": "Every file was rejected."}
    assert [r["name"] for r in body["rejected"]] == ["empty.pdf", "program.pdf"]
    assert body["rejected"][0]["error"] == "The file is empty."
    assert "PDF, PNG, JPEG" in body["rejected"][1]["error"]
    assert_nothing_stored()
    assert sent == []


@pytest.mark.parametrize(
    "data",
    [{}, {"document": "not a file"}, {"files": upload("misnamed.txt", b"hello")}],
    ids=["empty-body", "no-file-field", "wrong-field-name"],
)
def test_upload_without_file_fields_is_400(api, data):
    response = api.post(DOCUMENTS, data)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "no_files",
            "message": "Send one or more files as multipart/form-data fields named 'file'.",
        }
    }
    assert_nothing_stored()


def test_upload_of_json_instead_of_multipart_is_400(api):
    response = api.post(DOCUMENTS, {"file": "x"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_files"
    assert_nothing_stored()


def test_file_over_the_size_limit_is_413_and_stores_nothing(api, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    response = api.post(DOCUMENTS, {"file": upload("big.txt", b"a" * (1024 * 1024 + 1))})
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "too_large",
            "message": "Files may be up to 1 MB each, 50 files a request.",
        },
        "rejected": [{"name": "big.txt", "error": "The file is larger than the 1 MB limit."}],
    }
    assert_nothing_stored()


def test_one_file_over_the_limit_among_good_ones_is_only_rejected(api, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    response = api.post(
        DOCUMENTS,
        {"file": [upload("big.txt", b"a" * (1024 * 1024 + 1)), upload("ok.txt", b"fine")]},
    )
    assert response.status_code == 201
    body = response.json()
    assert [d["name"] for d in body["documents"]] == ["ok.txt"]
    assert body["rejected"] == [
        {"name": "big.txt", "error": "The file is larger than the 1 MB limit."}
    ]
    assert list(Document.objects.values_list("original_name", flat=True)) == ["ok.txt"]


def test_request_body_far_over_the_limits_is_413_before_reading_it(api, settings):
    settings.PYQ_MAX_UPLOAD_MB = 1
    settings.PYQ_MAX_FILES_PER_UPLOAD = 1
    response = api.post(DOCUMENTS, {"file": upload("huge.txt", b"a" * (2 * 1024 * 1024 + 1))})
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "too_large",
            "message": "Files may be up to 1 MB each, 1 files a request.",
        }
    }
    assert_nothing_stored()


def test_more_files_than_allowed_is_413_and_stores_nothing(api, settings):
    settings.PYQ_MAX_FILES_PER_UPLOAD = 2
    response = api.post(DOCUMENTS, {"file": [upload(f"n{i}.txt", b"text") for i in range(3)]})
    assert response.status_code == 413
    assert response.json() == {
        "error": {"code": "too_many_files", "message": "Send at most 2 files in one request."}
    }
    assert_nothing_stored()


def test_more_files_than_django_parses_is_413_and_stores_nothing(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = api.post(DOCUMENTS, {"file": [upload(f"n{i}.txt", b"text") for i in range(3)]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_files"
    assert_nothing_stored()


# --- List --------------------------------------------------------------------------------


def bulk_documents(org, count: int) -> list[Document]:
    """Document rows without files, one a minute apart (doc-000 the oldest): lists only."""
    start = timezone.now() - timedelta(days=1)
    return Document.objects.bulk_create(
        Document(
            organization=org,
            original_name=f"doc-{i:03}.txt",
            kind="txt",
            mime_type="text/plain",
            extension=".txt",
            size=4,
            sha256="0" * 64,
            file=f"orgs/{org.pk}/doc-{i:03}.txt",
            page_count=1,
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    )


def test_list_is_newest_first_with_the_latest_run_of_each(api):
    first = make_document(api.key.organization, "first.txt", b"one")
    execute_run(first.runs.get().pk)
    second = make_document(api.key.organization, "second.txt", b"two")  # still queued
    response = api.get(DOCUMENTS)
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["page"], body["pages"], body["next"], body["previous"]) == (
        2,
        1,
        1,
        None,
        None,
    )
    finished = first.runs.get().finished_at
    assert finished is not None
    assert [(d["id"], d["name"], d["run"]) for d in body["documents"]] == [
        (
            str(second.uid),
            "second.txt",
            {"id": second.runs.get().pk, "status": "queued", "finished_at": None},
        ),
        (
            str(first.uid),
            "first.txt",
            {"id": first.runs.get().pk, "status": "succeeded", "finished_at": finished.isoformat()},
        ),
    ]


def test_list_pages_hold_50_documents_with_next_and_previous_urls(api):
    bulk_documents(api.key.organization, 51)
    first = api.get(DOCUMENTS).json()
    assert (first["count"], first["page"], first["pages"]) == (51, 1, 2)
    assert len(first["documents"]) == 50
    assert first["documents"][0]["name"] == "doc-050.txt"
    assert first["documents"][-1]["name"] == "doc-001.txt"
    assert first["next"] == "http://testserver/api/v1/documents?page=2"
    assert first["previous"] is None
    assert all(d["run"] is None for d in first["documents"])

    second = api.get(first["next"]).json()
    assert [d["name"] for d in second["documents"]] == ["doc-000.txt"]
    assert second["next"] is None
    assert second["previous"] == "http://testserver/api/v1/documents?page=1"


def test_page_past_the_end_is_404(api):
    bulk_documents(api.key.organization, 2)
    response = api.get(DOCUMENTS, {"page": 2})
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "There is no page 2; there are 1."}
    }


@pytest.mark.parametrize("page", ["0", "-1", "two", "1.5", ""])
def test_page_that_is_not_a_positive_number_is_400(api, page):
    response = api.get(DOCUMENTS, {"page": page})
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid_page", "message": "page must be a whole number from 1."}
    }


def test_empty_organization_lists_no_documents(api):
    response = api.get(DOCUMENTS)
    assert response.status_code == 200
    assert response.json() == {
        "count": 0,
        "page": 1,
        "pages": 1,
        "next": None,
        "previous": None,
        "documents": [],
    }


# --- Detail and run -------------------------------------------------------------------------


def test_processed_document_shows_its_page_text_and_the_run_steps(api):
    document = make_document(
        api.key.organization,
        "two.pdf",
        files.text_pdf(["Invoice 4721 from Acme Supplies", "Total due 93.50 EUR"]),
    )
    run = document.runs.get()
    execute_run(run.pk)
    run.refresh_from_db()
    steps = list(run.steps.all())

    response = api.get(document_url(document))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["kind"], body["pages"], body["source"]) == (
        str(document.uid),
        "two.pdf",
        "pdf",
        2,
        "upload",
    )
    pages = body["content"]["pages"]
    assert [(p["number"], p["method"], p["ocr_confidence"], p["text"].strip()) for p in pages] == [
        (1, "text_layer", None, "Invoice 4721 from Acme Supplies"),
        (2, "text_layer", None, "Total due 93.50 EUR"),
    ]
    assert all(p["width"] > 0 and p["height"] > 0 for p in pages)
    assert body["content"]["text"] == document.text
    assert "Invoice 4721 from Acme Supplies" in body["content"]["text"]
    assert body["attachments"] == []
    fields = body["run"].pop("fields")  # the upload pipeline's extract_fields found these
    assert list(fields) == [name for name, _ in ordered_fields(run.output_of("extract_fields"))]
    assert fields["invoice_number"]["value"] == "4721"
    assert body["run"] == {
        "id": run.pk,
        "status": "succeeded",
        "trigger": "upload",
        "workflow": None,
        "document": {"id": str(document.uid), "name": "two.pdf"},
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "pages_total": 2,
        "pages_done": 2,
        "progress": 100,
        "error": "",
        "warnings": run.warnings,
        "steps": [
            {
                "position": step.position,
                "step": step.step,
                "status": step.status,
                "started_at": step.started_at.isoformat(),
                "finished_at": step.finished_at.isoformat() if step.finished_at else None,
                "output": step.output,
                "error": step.error,
            }
            for step in steps
        ],
    }
    extract = body["run"]["steps"][0]
    assert (extract["position"], extract["step"], extract["status"], extract["error"]) == (
        0,
        "extract_text",
        "succeeded",
        "",
    )
    assert extract["output"]["pages"] == 2


def test_detail_shows_the_latest_run_only(api):
    document = make_document(api.key.organization, "note.txt", b"hello")
    execute_run(document.runs.get().pk)
    retry = Run.objects.create(
        organization=document.organization, document=document, trigger=Run.Trigger.RETRY
    )
    body = api.get(document_url(document)).json()
    assert (body["run"]["id"], body["run"]["status"], body["run"]["steps"]) == (
        retry.pk,
        "queued",
        [],
    )


def test_failed_run_shows_its_step_error(api):
    document = make_document(api.key.organization, "blank.png", files.blank_image())
    run = document.runs.get()
    execute_run(run.pk)
    run.refresh_from_db()
    body = api.get(run_url(run)).json()
    assert body["status"] == "failed"
    assert body["error"] == run.error
    assert body["error"].startswith("No text was found in this document.")
    assert [(s["step"], s["status"], s["error"]) for s in body["steps"]] == [
        ("extract_text", StepRun.Status.FAILED, run.error)
    ]


def test_run_endpoint_shows_a_queued_run(api):
    document = make_document(api.key.organization, "note.txt", b"hello")
    run = document.runs.get()
    response = api.get(run_url(run))
    assert response.status_code == 200
    assert response.json() == {
        "id": run.pk,
        "status": "queued",
        "trigger": "upload",
        "workflow": None,
        "document": {"id": str(document.uid), "name": "note.txt"},
        "created_at": run.created_at.isoformat(),
        "started_at": None,
        "finished_at": None,
        "pages_total": 1,
        "pages_done": 0,
        "progress": 0,
        "error": "",
        "warnings": [],
        "fields": {},
        "steps": [],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/documents/00000000-0000-0000-0000-000000000000",
        "/api/v1/documents/not-a-uuid",
        "/api/v1/runs/999999",
        "/api/v1/runs/abc",
    ],
)
def test_unknown_ids_are_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Authentication --------------------------------------------------------------------------


def test_request_without_a_key_is_401_with_a_bearer_challenge(db):
    response = Client().get(DOCUMENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="pyq"'
    assert response.json()["error"]["code"] == "missing_key"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer pyq_" + "x" * 43},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Api-Key": "pyq_" + "x" * 43},
    ],
    ids=["unknown-key", "not-a-key", "empty-bearer", "basic-auth", "unknown-x-api-key"],
)
def test_bad_key_is_401_and_uploads_nothing(api, headers):
    client = Client()
    response = client.post(DOCUMENTS, {"file": upload("n.txt", b"hello")}, headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="pyq", error="invalid_token"'
    assert response.json() == {
        "error": {
            "code": "invalid_key",
            "message": "This API key is not valid or has been revoked.",
        }
    }
    assert_nothing_stored()


def test_key_with_a_changed_character_is_401(api):
    last = "A" if api.raw[-1] != "A" else "B"
    response = Client().get(DOCUMENTS, headers={"Authorization": f"Bearer {api.raw[:-1]}{last}"})
    assert response.status_code == 401


def test_revoked_key_is_401_and_uploads_nothing(api):
    assert api.get(DOCUMENTS).status_code == 200
    api.key.revoke()
    listing = api.get(DOCUMENTS)
    posting = api.post(DOCUMENTS, {"file": upload("n.txt", b"hello")})
    assert (listing.status_code, posting.status_code) == (401, 401)
    assert posting.json()["error"]["code"] == "invalid_key"
    assert_nothing_stored()


def test_key_is_also_accepted_in_x_api_key(api):
    make_document(api.key.organization, "note.txt", b"hello")
    response = Client().get(DOCUMENTS, headers={"X-Api-Key": api.raw})
    assert response.status_code == 200
    assert [d["name"] for d in response.json()["documents"]] == ["note.txt"]


def test_bearer_scheme_is_case_insensitive(api):
    response = Client().get(DOCUMENTS, headers={"Authorization": f"bearer {api.raw}"})
    assert response.status_code == 200


def test_logged_in_browser_session_is_not_an_api_credential(owner):
    make_document(owner.org, "note.txt", b"hello")
    response = owner.client.get(DOCUMENTS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"


def test_post_needs_no_csrf_token(api):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        DOCUMENTS,
        {"file": upload("n.txt", b"hello")},
        headers={"Authorization": f"Bearer {api.raw}"},
    )
    assert response.status_code == 201


def test_using_a_key_records_when_it_was_last_used(api):
    assert api.key.last_used_at is None
    before = timezone.now()
    api.get(DOCUMENTS)
    api.key.refresh_from_db()
    assert api.key.last_used_at >= before


# --- Methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", DOCUMENTS, "GET, POST"),
        ("DELETE", DOCUMENTS, "GET, POST"),
        ("PATCH", DOCUMENTS, "GET, POST"),
        ("POST", "/api/v1/documents/{uid}", "GET"),
        ("DELETE", "/api/v1/documents/{uid}", "GET"),
        ("POST", "/api/v1/runs/{run}", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow_and_changes_nothing(api, method, path, allow):
    document = make_document(api.key.organization, "note.txt", b"hello")
    run = document.runs.get()
    response = api.generic(method, path.format(uid=document.uid, run=run.pk))
    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert list(Document.objects.values_list("pk", flat=True)) == [document.pk]
    assert list(Run.objects.values_list("pk", "status")) == [(run.pk, "queued")]


def test_wrong_method_without_a_key_is_401(db):
    response = Client().delete(DOCUMENTS)
    assert response.status_code == 401


# --- Other organizations --------------------------------------------------------------------


def test_outsider_key_cannot_see_another_organizations_documents_or_runs(
    api: ApiCaller, outsider_api: ApiCaller
):
    document = make_document(api.key.organization, "secret.pdf", files.text_pdf(["Salary 9000"]))
    run = document.runs.get()
    execute_run(run.pk)

    detail = outsider_api.get(document_url(document))
    run_response = outsider_api.get(run_url(run))
    listing = outsider_api.get(DOCUMENTS)

    assert detail.status_code == 404
    assert detail.json() == {"error": {"code": "not_found", "message": "No such document."}}
    assert run_response.status_code == 404
    assert run_response.json() == {"error": {"code": "not_found", "message": "No such run."}}
    assert listing.status_code == 200
    assert (listing.json()["count"], listing.json()["documents"]) == (0, [])
    assert b"Salary" not in detail.content + run_response.content + listing.content
    # The owner's key still sees it.
    assert api.get(document_url(document)).status_code == 200


def test_outsider_upload_lands_in_the_outsiders_organization(api, outsider_api):
    response = outsider_api.post(DOCUMENTS, {"file": upload("theirs.txt", b"hello")})
    assert response.status_code == 201
    document = Document.objects.get()
    assert document.organization == outsider_api.key.organization
    assert api.get(DOCUMENTS).json()["documents"] == []
