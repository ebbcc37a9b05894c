"""REST API v1 runs: list them with filters, read one with its steps and fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from automations.models import Run
from tests.api.conftest import finished_run
from tests.automations.helpers import make_document

RUNS = "/api/v1/runs"


@pytest.fixture
def three_runs(api, published):
    """An upload's default run, and two of the workflow: one failed ten days ago."""
    plain = make_document(api.key.organization, "plain.txt", b"hello").runs.get()
    old = finished_run(
        published,
        "old.pdf",
        {},
        status=Run.Status.FAILED,
        created_at=timezone.now() - timedelta(days=10),
    )
    new = finished_run(published, "new.pdf", {"total": {"value": "93.50", "confidence": 0.9}})
    return plain, old, new


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [run["id"] for run in response.json()["runs"]]


def test_list_is_newest_first(api, three_runs):
    plain, old, new = three_runs
    response = api.get(RUNS)
    assert ids(response) == [new.pk, plain.pk, old.pk]
    item = response.json()["runs"][0]
    assert item == {
        "id": new.pk,
        "status": "succeeded",
        "trigger": "upload",
        "workflow": {"id": new.workflow_id, "name": "Invoice intake", "version": 1},
        "document": {"id": str(new.document.uid), "name": "new.pdf"},
        "created_at": new.created_at.isoformat(),
        "started_at": None,
        "finished_at": new.finished_at.isoformat(),
    }


def test_filters(api, published, three_runs):
    plain, old, new = three_runs
    assert ids(api.get(RUNS, {"workflow": published.pk})) == [new.pk, old.pk]
    assert ids(api.get(RUNS, {"status": "failed"})) == [old.pk]
    today = timezone.localdate().isoformat()
    assert ids(api.get(RUNS, {"since": today})) == [new.pk, plain.pk]
    earlier = (timezone.now() - timedelta(days=5)).isoformat()
    assert ids(api.get(RUNS, {"until": earlier})) == [old.pk]
    assert ids(api.get(RUNS, {"workflow": published.pk, "status": "succeeded"})) == [new.pk]


def test_next_page_keeps_the_filters(api, published, settings, monkeypatch):
    monkeypatch.setattr("api.pages.PAGE_SIZE", 1)
    finished_run(published, "a.pdf", {})
    finished_run(published, "b.pdf", {})
    body = api.get(RUNS, {"status": "succeeded"}).json()
    assert body["next"] == "http://testserver/api/v1/runs?status=succeeded&page=2"


def test_a_builders_test_is_left_out(api, published):
    run = finished_run(published, "test.pdf", {})
    Run.objects.filter(pk=run.pk).update(is_test=True)
    assert ids(api.get(RUNS)) == []


def test_another_organizations_runs_are_not_listed(outsider_api, three_runs, published):
    assert ids(outsider_api.get(RUNS)) == []
    response = outsider_api.get(RUNS, {"workflow": published.pk})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such workflow."


@pytest.mark.parametrize(
    "query",
    [
        {"workflow": "abc"},
        {"status": "done"},
        {"since": "last week"},
        {"until": "2026-13-01"},
        {"since": ""},
        {"since": "0001-01-01T00:00:00+23:00"},
        {"since": "2026-11-30", "until": "2026-11-01"},
        {"state": "failed"},
    ],
)
def test_bad_filters_are_a_json_400(api, query):
    response = api.get(RUNS, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_an_offset_postgresql_refuses_is_taken(api, three_runs):
    """Python accepts offsets up to 23:59, PostgreSQL up to 15:59: the filter is sent in UTC."""
    assert ids(api.get(RUNS, {"until": "2000-01-01T00:00:00-16:22"})) == []


def test_a_bad_page_is_a_json_400(api):
    response = api.get(RUNS, {"page": "0"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_page"


def test_read_gives_every_step_and_the_fields(api, three_runs):
    new = three_runs[2]
    body = api.get(f"{RUNS}/{new.pk}").json()
    assert body["fields"] == {"total": {"value": "93.50", "confidence": 0.9}}
    assert body["workflow"] == {"id": new.workflow_id, "name": "Invoice intake", "version": 1}
    assert [(s["step"], s["status"], s["output"]["order"]) for s in body["steps"]] == [
        ("extract_fields", "succeeded", ["total"])
    ]


def test_another_organizations_run_is_not_found(outsider_api, three_runs):
    response = outsider_api.get(f"{RUNS}/{three_runs[2].pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_without_a_key_or_with_a_bad_one_401(client, three_runs):
    for headers in ({}, {"X-Api-Key": "pyq_wrong"}):
        for path in (RUNS, f"{RUNS}/{three_runs[0].pk}"):
            response = client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] in {"missing_key", "invalid_key"}
