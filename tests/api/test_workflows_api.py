"""REST API v1 workflows: list, read, send documents to one, export its fields."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from automations.models import Document, Run
from automations.triggers import create_trigger, set_paused
from tests import files
from tests.api.conftest import finished_run
from tests.automations.helpers import upload

WORKFLOWS = "/api/v1/workflows"


def workflow_url(workflow, tail: str = "") -> str:
    pk = workflow if isinstance(workflow, int | str) else workflow.pk
    return f"{WORKFLOWS}/{pk}{tail}"


# --- list and read ------------------------------------------------------------------------


def test_list_shows_the_organizations_workflows_only(api, outsider_api, published, workflow):
    response = api.get(WORKFLOWS)
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["page"], body["pages"], body["next"]) == (1, 1, 1, None)
    assert body["workflows"] == [
        {
            "id": published.pk,
            "name": "Invoice intake",
            "description": "",
            "created_at": published.created_at.isoformat(),
            "current_version": 1,
        }
    ]
    assert outsider_api.get(WORKFLOWS).json()["workflows"] == []


def test_read_gives_versions_and_triggers(api, published):
    response = api.get(workflow_url(published))
    assert response.status_code == 200
    body = response.json()
    version = published.current_version
    assert body["versions"] == [
        {
            "number": 1,
            "note": "first",
            "published_at": version.published_at.isoformat(),
            "steps": ["extract_text", "classify"],
        }
    ]
    assert body["triggers"] == []
    assert body["current_version"] == 1


def test_read_gives_triggers_without_their_secret(api, published, owner):
    trigger = create_trigger(published, "webhook", user=owner.user)
    set_paused(trigger, True)
    response = api.get(workflow_url(published))
    assert response.json()["triggers"] == [
        {
            "id": trigger.pk,
            "kind": "webhook",
            "paused": True,
            "token_end": trigger.token[-4:],
            "created_at": trigger.created_at.isoformat(),
            "last_used_at": None,
        }
    ]
    assert trigger.token not in response.content.decode()


def test_a_draft_never_published_has_no_version(api, workflow):
    body = api.get(workflow_url(workflow)).json()
    assert (body["current_version"], body["versions"]) == (None, [])


@pytest.mark.parametrize("tail", ["", "/export"])
def test_another_organizations_workflow_is_not_found(outsider_api, published, tail):
    response = outsider_api.get(workflow_url(published, tail))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such workflow."}}


@pytest.mark.parametrize("pk", ["999999", "abc", "0", "-1", "１"])
def test_an_unknown_workflow_is_not_found(api, pk):
    assert api.get(workflow_url(pk)).status_code == 404


def test_a_bad_page_is_a_json_400(api):
    response = api.get(WORKFLOWS, {"page": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_page"


def test_without_a_key_or_with_a_bad_one_401(client, published):
    for headers in ({}, {"Authorization": "Bearer pyq_not-a-key"}):
        for path in (WORKFLOWS, workflow_url(published), workflow_url(published, "/export")):
            response = client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] in {"missing_key", "invalid_key"}


# --- send documents -----------------------------------------------------------------------


def test_upload_runs_the_current_published_version(api, published, sent):
    response = api.post(
        workflow_url(published, "/documents"),
        {"file": [upload("a.txt", b"Invoice 1"), upload("b.txt", b"Receipt 2")]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [d["name"] for d in body["documents"]] == ["a.txt", "b.txt"]
    assert body["rejected"] == []
    runs = Run.objects.order_by("pk")
    assert [(r.workflow, r.workflow_version, r.trigger) for r in runs] == [
        (published, published.current_version, "api")
    ] * 2
    assert {d.source for d in Document.objects.all()} == {"api"}


def test_upload_to_an_unpublished_workflow_is_a_409(api, workflow):
    response = api.post(workflow_url(workflow, "/documents"), {"file": upload("a.txt", b"x")})
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "not_published"
    assert "no published version" in body["error"]["message"]
    assert Document.objects.count() == 0


def test_upload_to_another_organizations_workflow_is_a_404(outsider_api, published):
    response = outsider_api.post(
        workflow_url(published, "/documents"), {"file": upload("a.txt", b"x")}
    )
    assert response.status_code == 404
    assert Document.objects.count() == 0


def test_upload_refuses_a_pipeline_and_no_files(api, published):
    pipeline = api.post(
        workflow_url(published, "/documents"),
        {"file": upload("a.txt", b"x"), "pipeline": "[]"},
    )
    assert pipeline.status_code == 400
    assert pipeline.json()["error"]["code"] == "unknown_field"
    empty = api.post(workflow_url(published, "/documents"), {})
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "no_files"
    assert Document.objects.count() == 0


def test_upload_refuses_a_file_it_cannot_read(api, published):
    response = api.post(
        workflow_url(published, "/documents"), {"file": upload("x.exe", b"MZ\x90\x00")}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected"


def test_upload_is_only_a_post(api, published):
    response = api.get(workflow_url(published, "/documents"))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_upload_takes_many_files_past_the_form_limit(api, published, sent, settings):
    """The view is named in pyq_site/limits.py: files are held to the upload limits."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = files.text_pdf(["x" * 4000])
    response = api.post(workflow_url(published, "/documents"), {"file": upload("a.pdf", big)})
    assert response.status_code == 201, response.content


# --- export -------------------------------------------------------------------------------


@pytest.fixture
def two_runs(published):
    old = finished_run(
        published,
        "old.pdf",
        {"total": {"value": "=HYPERLINK(1)", "confidence": 0.5}},
        created_at=timezone.now() - timedelta(days=10),
    )
    new = finished_run(
        published,
        "new.pdf",
        {"total": {"value": "93.50", "confidence": 0.9, "currency": "EUR"}},
    )
    return old, new


def test_export_as_csv_escapes_formulas(api, published, two_runs):
    response = api.get(workflow_url(published, "/export"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="invoice-intake-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "document", "run", "finished_at", "status", "total", "total_currency", "total_confidence"
    ]  # fmt: skip
    assert [(r[0], r[4], r[5]) for r in rows[1:]] == [
        ("old.pdf", "'=HYPERLINK(1)", ""),
        ("new.pdf", "93.50", "EUR"),
    ]


def test_export_as_json_for_a_period(api, published, two_runs):
    today = timezone.localdate().isoformat()
    response = api.get(
        workflow_url(published, "/export"), {"format": "json", "since": today, "until": today}
    )
    assert response.status_code == 200
    data = json.loads(response.content)
    assert [(row["document"], row["fields"]["total"]["value"]) for row in data] == [
        ("new.pdf", "93.50")
    ]


def test_export_as_xlsx_keeps_formulas_as_text(api, published, two_runs):
    response = api.get(workflow_url(published, "/export"), {"format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet["E2"].value == "=HYPERLINK(1)"
    assert sheet["E2"].data_type == "s"


def test_export_leaves_out_runs_still_going_and_other_workflows(api, published, two_runs):
    finished_run(published, "busy.pdf", {}, status=Run.Status.RUNNING)
    data = json.loads(api.get(workflow_url(published, "/export"), {"format": "json"}).content)
    assert [row["document"] for row in data] == ["old.pdf", "new.pdf"]


@pytest.mark.parametrize(
    "query",
    [
        {"format": "pdf"},
        {"since": "yesterday"},
        {"until": "2026-02-30"},
        {"since": "2026-11-30", "until": "2026-11-01"},
        {"sinse": "2026-11-01"},
    ],
)
def test_export_refuses_bad_parameters(api, published, query):
    response = api.get(workflow_url(published, "/export"), query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"
