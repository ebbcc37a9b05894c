"""Idempotency-Key on every POST of the API: the same request makes its objects once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.client import encode_multipart
from django.utils import timezone

from api.models import IdempotencyKey
from automations import intake
from automations.models import Document, Run
from tests.api.callers import caller_for
from tests.automations.helpers import upload

DOCUMENTS = "/api/v1/documents"


def send(api, key: str, data: bytes = b"Invoice 1", name: str = "a.txt", path: str = DOCUMENTS):
    return api.post(path, {"file": upload(name, data)}, headers={"Idempotency-Key": key})


def test_same_key_same_request_makes_one_document_and_the_same_answer(api, sent):
    first = send(api, "order-42")
    again = send(api, "order-42")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert (Document.objects.count(), Run.objects.count()) == (1, 1)
    kept = IdempotencyKey.objects.get()
    assert (kept.organization, kept.key, kept.status_code) == (
        api.key.organization,
        "order-42",
        201,
    )
    assert len(kept.fingerprint) == 64


def test_same_key_other_request_is_a_422(api, sent):
    send(api, "order-42")
    other = send(api, "order-42", data=b"Invoice 2")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Document.objects.count() == 1


def test_the_same_key_on_another_path_is_another_request(api, published, sent):
    send(api, "k1")
    other = send(api, "k1", path=f"/api/v1/workflows/{published.pk}/documents")
    assert other.status_code == 422


def test_the_workflow_upload_is_idempotent_too(api, published, sent):
    path = f"/api/v1/workflows/{published.pk}/documents"
    assert send(api, "k1", path=path).json() == send(api, "k1", path=path).json()
    assert Run.objects.get().workflow == published


def test_keys_are_per_organization(api, outsider_api, sent):
    send(api, "shared")
    theirs = send(outsider_api, "shared")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert Document.objects.count() == 2


def test_a_refused_request_keeps_no_answer(api, sent):
    refused = api.post(DOCUMENTS, {}, headers={"Idempotency-Key": "k"})
    assert refused.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    assert send(api, "k").status_code == 201


def test_without_a_key_each_request_makes_its_own(api, sent):
    api.post(DOCUMENTS, {"file": upload("a.txt", b"x")})
    api.post(DOCUMENTS, {"file": upload("a.txt", b"x")})
    assert Document.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "é"])
def test_a_bad_key_is_a_400(api, key):
    response = send(api, key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert Document.objects.count() == 0


def test_the_longest_key_is_taken(api, sent):
    assert send(api, "x" * 255).status_code == 201


def test_the_answer_is_kept_in_the_transaction_of_what_it_made(api, sent, monkeypatch):
    """When the answer cannot be stored, what the request made is rolled back with it."""

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("api.idempotency._keep", broken)
    with pytest.raises(RuntimeError):
        send(api, "k")
    assert (Document.objects.count(), Run.objects.count(), IdempotencyKey.objects.count()) == (
        0,
        0,
        0,
    )


def test_a_key_being_answered_is_a_409_and_does_nothing(api, sent, monkeypatch):
    """Another request's claim on the key, not yet committed (so not seen by the lookup, as
    on PostgreSQL), stops this one on the unique index before it makes anything."""
    IdempotencyKey.objects.create(
        organization=api.key.organization, key="k", fingerprint="x", status_code=0
    )
    monkeypatch.setattr("api.idempotency._kept", lambda request, key: None)
    response = send(api, "k")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert Document.objects.count() == 0


def test_predict_takes_a_key(api, monkeypatch):
    calls = []

    def run_model(org, slug, **kwargs):
        calls.append(slug)
        return {
            "output": {"n": len(calls)},
            "warnings": [],
            "pages": 0,
            "artifacts": [],
            "error": "",
        }

    monkeypatch.setattr("api.models_api.run_model", run_model)
    path = "/api/v1/models/minilm-classifier/predict"
    body = {"text": "Invoice 42", "labels": ["invoice", "receipt"]}
    headers = {"Idempotency-Key": "p1"}
    first = api.post(path, body, content_type="application/json", headers=headers)
    again = api.post(path, body, content_type="application/json", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert calls == ["minilm-classifier"]
    other = api.post(path, {**body, "text": "x"}, content_type="application/json", headers=headers)
    assert other.status_code == 422


def test_old_answers_are_purged(api, sent):
    send(api, "old")
    send(api, "new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=2))
    call_command("purge_idempotency_keys")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_the_multipart_boundary_is_not_part_of_the_request(api, sent):
    """curl picks a new boundary on every call: a retry is still the same request."""
    answers = []
    for boundary in ("first-boundary", "another-one"):
        body = encode_multipart(boundary, {"file": upload("a.txt", b"Invoice 1")})
        answers.append(
            api.client.post(
                DOCUMENTS,
                body,
                content_type=f"multipart/form-data; boundary={boundary}",
                headers={"Authorization": f"Bearer {api.raw}", "Idempotency-Key": "k"},
            )
        )
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[1]["Idempotent-Replayed"] == "true"
    assert Document.objects.count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: no race to see"
)
def test_two_requests_at_once_with_one_key_make_one_document(transactional_db, owner, monkeypatch):
    """On PostgreSQL: the second request waits on the first's claim, then answers 409."""
    monkeypatch.setattr("automations.runs.queue.send", lambda *args, **kwargs: None)
    ingest_many = intake.ingest_many

    def slow(*args, **kwargs):
        time.sleep(1)  # the second request arrives while the first is still working
        return ingest_many(*args, **kwargs)

    monkeypatch.setattr("api.views.intake.ingest_many", slow)
    callers = [caller_for(owner), caller_for(owner)]

    def post(caller):
        try:
            return send(caller, "same").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, callers[0])
        time.sleep(0.3)
        second = pool.submit(post, callers[1])
        statuses = sorted([first.result(), second.result()])
    assert statuses == [201, 409]
    assert Document.objects.count() == 1
    assert IdempotencyKey.objects.get().status_code == 201
