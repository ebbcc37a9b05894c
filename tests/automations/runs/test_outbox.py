"""Intake survives the broker: a committed run is the record, its message only a nudge.

An upload while the broker is down answers success with its queued runs and keeps its files;
the sweeper sends what is owed once the broker is back, and a worker processes every
document. Run against a broker of the test's own (a redis-server stopped and started again,
and the embedded filesystem broker whose folder goes away), whatever PYQ_BROKER_URL is."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from automations.models import Document, Run
from automations.runs import queue, recovery, tasks
from automations.runs.routes import PROCESS_RUNS
from tests.automations.helpers import make_document, message_texts, stored_files, upload, url
from tests.automations.runs.brokers import FilesystemBroker, RedisBroker, app_for, restore_app

DOCUMENTS = reverse("api:documents")
KINDS = {"redis": RedisBroker, "filesystem": FilesystemBroker}


@pytest.fixture(params=sorted(KINDS))
def broker(request, tmp_path) -> Iterator[RedisBroker | FilesystemBroker]:
    """A broker of this test's own, started; the current Celery app sends to it."""
    kind = KINDS[request.param]
    if kind.missing:
        pytest.skip(f"{kind.missing}; this test starts and stops a Redis of its own")
    server = kind(tmp_path / "broker")
    server.start()
    app = app_for(server)
    try:
        yield server
    finally:
        restore_app()
        server.stop()
        app.close()


def wait_until_finished(run_ids: list[int], timeout: float = 120) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = dict(Run.objects.filter(pk__in=run_ids).values_list("pk", "status"))
        if not any(status in Run.ACTIVE for status in statuses.values()):
            return statuses
        time.sleep(0.2)
    raise AssertionError(f"runs still active after {timeout} s: {statuses}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_uploads_while_the_broker_is_down_are_queued_and_processed_when_it_returns(
    broker, api, owner
):
    broker.stop()

    response = api.post(
        DOCUMENTS, {"file": [upload("a.txt", b"Invoice 1, total 9.00"), upload("b.txt", b"Hi")]}
    )
    page = owner.client.post(url("documents"), {"files": [upload("c.txt", b"Receipt 3")]})

    # Both answer success, and say the runs are queued.
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    answered = {d["name"]: d["run"] for d in response.json()["documents"]}
    assert {name: run["status"] for name, run in answered.items()} == {
        "a.txt": "queued",
        "b.txt": "queued",
    }
    assert page.status_code == 302
    assert message_texts(page) == ["Uploaded c.txt. Reading them now."]
    # Everything is committed, every file kept, and each run is owed its message.
    runs = list(Run.objects.order_by("pk"))
    assert [answered["a.txt"]["id"], answered["b.txt"]["id"]] == [r.pk for r in runs[:2]]
    assert [(r.status, r.nudged_at) for r in runs] == [("queued", None)] * 3
    files = stored_files()
    assert len(files) == Document.objects.count() == 3

    broker.start()  # the broker is back (an empty one: nothing was sent while it was down)
    result = tasks.recover_runs.run()  # the beat's sweep
    assert sorted(result["nudged"]) == [r.pk for r in runs]
    with start_worker(broker.app, perform_ping_check=False, queues=["ml"]):
        statuses = wait_until_finished([r.pk for r in runs])

    assert set(statuses.values()) == {Run.Status.SUCCEEDED}
    assert stored_files() == files  # nothing deleted


@pytest.mark.django_db
def test_a_nudge_the_broker_refuses_leaves_the_runs_queued_and_owed(
    org, monkeypatch, django_capture_on_commit_callbacks
):
    runs = [make_document(org, f"{n}.txt", b"text").runs.get() for n in range(2)]

    def refuse(name, *args, countdown=None):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(queue, "send", refuse)
    assert queue.nudge([r.pk for r in runs]) is False

    assert [(r.status, r.nudged_at) for r in Run.objects.order_by("pk")] == [("queued", None)] * 2
    sent: list[tuple] = []
    monkeypatch.setattr(
        queue, "send", lambda name, *args, countdown=None: sent.append((name, args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.nudge_queued() == [r.pk for r in runs]
    assert sent == [(PROCESS_RUNS, ([r.pk for r in runs],))]
    assert all(r.nudged_at is not None for r in Run.objects.all())
    assert recovery.nudge_queued() == []  # sent now: not again before RENUDGE_SECONDS
